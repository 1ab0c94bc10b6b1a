package manager

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"

	"github.com/aias-dev/aias/controllers/admission"
)

// The serving certificate's rotator (github.com/open-policy-agent/cert-controller) writes
// the CA and the certificate into one Secret of the manager's namespace and the CA into
// the ValidatingWebhookConfiguration. It lists Secrets of that namespace (its own informer;
// the manager may already read Secrets cluster-wide) and ValidatingWebhookConfigurations,
// and updates only the two it names: the chart and config/webhook grant exactly that
// (resourceNames), not these markers.

// Defaults of the admission flags: the names the chart and config/ deploy.
const (
	defaultAdmissionCertSecret    = "aias-manager-webhook-cert"
	defaultAdmissionService       = "aias-manager-webhook"
	defaultAdmissionWebhookConfig = "aias-validating-webhook"
	// serviceAccountNamespaceFile names the pod's namespace, in every pod with a token.
	serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)

// AdmissionCertOptions say where the admission webhooks' serving certificate comes from.
type AdmissionCertOptions struct {
	// Rotate generates the CA and the serving certificate into Secret (and renews them
	// before they expire) and injects the CA into WebhookConfig. When false the
	// certificate is expected in CertDir already (cert-manager, or a Secret of your own).
	Rotate bool
	// Secret is the Secret the rotator keeps the CA and certificate in; the manager's pod
	// mounts it at CertDir.
	Secret string
	// Service is the Service in front of the webhook server: the certificate is for
	// <Service>.<Namespace>.svc.
	Service string
	// WebhookConfig is the ValidatingWebhookConfiguration whose caBundle the rotator sets.
	WebhookConfig string
	// Namespace holds Secret and Service; empty: the pod's own namespace.
	Namespace string
	// CertDir is where the webhook server reads tls.crt and tls.key (not a flag: the
	// Secret is mounted there); empty: controller-runtime's default.
	CertDir string
}

// checkAdmission refuses admission flags that cannot work.
func (o Options) checkAdmission() error {
	if o.AdmissionPort < 1 || o.AdmissionPort > 65535 {
		return fmt.Errorf("--admission-port %d: want 1-65535", o.AdmissionPort)
	}
	if c := o.AdmissionCerts; c.Rotate && (c.Secret == "" || c.Service == "" || c.WebhookConfig == "") {
		return errors.New("--admission-cert-rotation needs --admission-cert-secret, --admission-service and --admission-webhook-config")
	}
	return nil
}

// setupAdmission serves the validating webhooks. With a certificate already mounted they
// are registered at once; with the rotator, only once it has written the certificate, it
// has appeared in the mounted Secret and the CA is in the webhook configuration: the
// webhook server cannot start without its certificate, and until then the manager is not
// ready (readyz check admission-webhook), so no Service routes the API server to it.
func setupAdmission(mgr ctrl.Manager, o Options) error {
	opts := admission.Options{
		NoTenantPolicy: admission.NoTenantPolicy(o.NoTenantPolicy), DefaultPlan: o.DefaultPlan, PastDueGrace: o.PastDueGrace,
	}
	started := &atomic.Pointer[healthz.Checker]{}
	register := func() error {
		if err := admission.Setup(mgr, opts); err != nil {
			return fmt.Errorf("setting up admission: %w", err)
		}
		check := mgr.GetWebhookServer().StartedChecker()
		started.Store(&check)
		return nil
	}
	if err := mgr.AddReadyzCheck("admission-webhook", func(req *http.Request) error {
		check := started.Load()
		if check == nil {
			return errors.New("waiting for the admission webhooks' serving certificate")
		}
		return (*check)(req)
	}); err != nil {
		return err
	}
	c := o.AdmissionCerts
	if !c.Rotate {
		return register()
	}
	ns := c.Namespace
	if ns == "" {
		b, err := os.ReadFile(serviceAccountNamespaceFile)
		if err != nil {
			return fmt.Errorf("--admission-namespace is empty and the pod's namespace is unknown: %w", err)
		}
		ns = strings.TrimSpace(string(b))
	}
	ready := make(chan struct{})
	svc := c.Service + "." + ns + ".svc"
	if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: ns, Name: c.Secret},
		CertDir:        c.certDir(),
		CAName:         "aias-admission-ca",
		CAOrganization: "aias",
		DNSName:        svc,
		ExtraDNSNames:  []string{svc + ".cluster.local", c.Service + "." + ns, c.Service},
		IsReady:        ready,
		Webhooks:       []rotator.WebhookInfo{{Name: c.WebhookConfig, Type: rotator.Validating}},
		FieldOwner:     "aias-manager",
		// Every replica serves webhooks, so every replica keeps its certificate (they
		// share the Secret; a conflicting write is retried from the other's result).
		RequireLeaderElection: false,
		// Inject the CA only once this replica's certificate files are there, so the API
		// server is never told to trust a server that cannot answer yet.
		EnableReadinessCheck: true,
	}); err != nil {
		return fmt.Errorf("setting up the admission certificate rotator: %w", err)
	}
	return mgr.Add(webhooksWhenReady{ready: ready, register: register})
}

// webhooksWhenReady registers the webhooks once the rotator's certificate is ready. It
// runs on every replica (no leader election), as the webhook server does.
type webhooksWhenReady struct {
	ready    <-chan struct{}
	register func() error
}

func (w webhooksWhenReady) NeedLeaderElection() bool { return false }

func (w webhooksWhenReady) Start(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-w.ready:
	}
	ctrl.Log.WithName("admission").Info("serving certificate ready: serving the admission webhooks")
	if err := w.register(); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// certDir is where the webhook server reads its certificate: o.CertDir, else
// controller-runtime's default, /tmp/k8s-webhook-server/serving-certs (where the chart
// and config/ mount the Secret).
func (o AdmissionCertOptions) certDir() string {
	if o.CertDir != "" {
		return o.CertDir
	}
	return filepath.Join(os.TempDir(), "k8s-webhook-server", "serving-certs")
}
