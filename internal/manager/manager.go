// Package manager builds and runs the controller-runtime manager behind `aias manager`.
package manager

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/selection"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/controllers"
	"github.com/aias-dev/aias/internal/sharedflags"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
)

// Version is set at build time with -ldflags "-X github.com/aias-dev/aias/internal/manager.Version=...".
var Version = "dev"

// The secured metrics endpoint authenticates callers with TokenReview and authorizes them
// with SubjectAccessReview, so the manager may create both.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// Options are the manager's command-line settings.
type Options struct {
	MetricsAddr             string
	SecureMetrics           bool
	ProbeAddr               string
	LeaderElect             bool
	LeaderElectionID        string
	LeaderElectionNamespace string
	EnableHTTP2             bool
	Zap                     zap.Options

	// DatabaseURL is the PostgreSQL store (artifacts, logs, run index, frozen specs).
	DatabaseURL string
	// DatabaseMaxConns bounds the store's connection pool (0: see store.MaxConns).
	DatabaseMaxConns int
	// StepTokenKeyFile holds the key that signs per-run step tokens; the webhookserver
	// verifies them with the same key.
	StepTokenKeyFile string
	// RunnerImage is the aias image the init container of every step pod copies the
	// step runtime (/aias-step) from.
	RunnerImage string
	// StepRuntime is how step pods get the step runtime: "init-container" (the default)
	// or "csi" (the step-runtime.aias.dev CSI driver's inline volume).
	StepRuntime string
	// InternalAPIURL is the internal step API as step pods reach it.
	InternalAPIURL string
	// StepImagePullTimeout and StepSchedulingTimeout bound a step Pod's wait for its
	// images and for a node when neither the step nor its Workflow says.
	StepImagePullTimeout, StepSchedulingTimeout time.Duration
	// PublicBaseURL makes WebhookEndpoint status.url absolute (e.g. https://hooks.example.com).
	PublicBaseURL string

	// DefaultPlan is the Plan of Tenants without an active subscription or spec.plan.
	DefaultPlan string
	// PastDueGrace is how long a past_due subscription keeps its plan.
	PastDueGrace time.Duration

	// AdmissionWebhooks serves the validating webhooks that hold Workflow,
	// WebhookEndpoint and Schedule creates to the tenant's plan (config/webhook).
	AdmissionWebhooks bool
	// AdmissionPort is the webhook server's port.
	AdmissionPort int
	// AdmissionCerts say where their serving certificate comes from (by default the
	// manager generates and rotates it).
	AdmissionCerts AdmissionCertOptions
	// NoTenantPolicy is "unlimited" or "deny" for namespaces that belong to no Tenant.
	NoTenantPolicy string

	// TenantContainerDefaults, when set, are the LimitRange aias-defaults of every tenant
	// namespace (--tenant-limit-range and --tenant-default-*); nil: none.
	TenantContainerDefaults *controllers.ContainerDefaults
	// TenantNetworkPolicy keeps the NetworkPolicy aias-tenant-isolation in every tenant
	// namespace (--tenant-network-policy).
	TenantNetworkPolicy bool

	// RunAgain lets an embedder run the manager again in the same process (not a flag):
	// the bench stops and restarts it between phases, and controller-runtime otherwise
	// refuses to register a controller name twice in one process.
	RunAgain bool

	// Extra runs against the manager before it starts (not a flag): `aias dev` adds the
	// node agent this way.
	Extra []func(ctrl.Manager) error
}

// ParseFlags reads the manager's flags; the defaults are what the chart and config/ deploy.
func ParseFlags(args []string) (Options, error) {
	var o Options
	fs := sharedflags.NewFlagSet("manager", "aias manager [flags]")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":8443", `address of the metrics endpoint; "0" disables it`)
	fs.BoolVar(&o.SecureMetrics, "metrics-secure", true, "serve metrics over HTTPS with Kubernetes authentication and authorization")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	fs.BoolVar(&o.LeaderElect, "leader-elect", false, "elect a leader so only one replica reconciles")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", "aias-manager.aias.dev", "name of the leader election Lease")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the Lease (default: the pod's namespace)")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", false, "allow HTTP/2 on the metrics server (off: HTTP/2 rapid-reset and stream-cancellation CVEs)")
	fs.StringVar(&o.RunnerImage, "runner-image", "ghcr.io/aias-dev/aias:"+Version, "image whose step runtime /aias-step every step pod runs its step under")
	fs.StringVar(&o.StepRuntime, "step-runtime", string(controllers.StepRuntimeInitContainer), `how step pods get the step runtime: "init-container" (an init container copies it from --runner-image; any cluster) or "csi" (an inline volume of the step-runtime.aias.dev CSI driver, which must run on every node that runs steps; no init container, a faster start)`)
	fs.BoolVar(&o.AdmissionWebhooks, "admission-webhooks", false, "serve the validating admission webhooks that enforce plan limits (on --admission-port, with the certificate in /tmp/k8s-webhook-server/serving-certs)")
	fs.IntVar(&o.AdmissionPort, "admission-port", 9443, "port of the admission webhook server")
	fs.BoolVar(&o.AdmissionCerts.Rotate, "admission-cert-rotation", true, "with --admission-webhooks: generate the webhooks' CA and serving certificate into the Secret --admission-cert-secret, renew them before they expire, and put the CA into the ValidatingWebhookConfiguration --admission-webhook-config (false: the certificate comes from cert-manager or your own Secret)")
	fs.StringVar(&o.AdmissionCerts.Secret, "admission-cert-secret", defaultAdmissionCertSecret, "Secret (in --admission-namespace) the certificate rotator writes; mount it at /tmp/k8s-webhook-server/serving-certs")
	fs.StringVar(&o.AdmissionCerts.Service, "admission-service", defaultAdmissionService, "Service in front of the webhook server: the rotated certificate is for <service>.<namespace>.svc")
	fs.StringVar(&o.AdmissionCerts.WebhookConfig, "admission-webhook-config", defaultAdmissionWebhookConfig, "ValidatingWebhookConfiguration whose caBundle the certificate rotator sets")
	fs.StringVar(&o.AdmissionCerts.Namespace, "admission-namespace", "", "namespace of --admission-cert-secret and --admission-service (empty: the pod's own)")
	fs.StringVar(&o.NoTenantPolicy, "admission-no-tenant-policy", "unlimited", `what admission does in namespaces that belong to no Tenant: "unlimited" or "deny"`)
	tenantDefaults := registerTenantDefaults(fs, &o)
	shared := sharedflags.Targets{DatabaseURL: &o.DatabaseURL, DatabaseMaxConns: &o.DatabaseMaxConns, StepTokenKeyFile: &o.StepTokenKeyFile,
		DefaultPlan: &o.DefaultPlan, PastDueGrace: &o.PastDueGrace, PublicBaseURL: &o.PublicBaseURL}
	sharedflags.Register(fs, shared)
	fs.DurationVar(&o.StepImagePullTimeout, "step-image-pull-timeout", controllers.DefaultImagePullTimeout, "how long a step's images may fail to pull (ErrImagePull, ImagePullBackOff) before the attempt fails, unless the step or Workflow sets imagePullTimeout")
	fs.DurationVar(&o.StepSchedulingTimeout, "step-scheduling-timeout", controllers.DefaultSchedulingTimeout, "how long a step's Pod may wait for a node (unschedulable) before the attempt fails, unless the step or Workflow sets schedulingTimeout")
	fs.StringVar(&o.InternalAPIURL, "internal-api-url", "http://aias-internal.aias-system.svc:8082", "the webhookserver's internal step API as step pods reach it")
	o.Zap = zap.Options{}
	o.Zap.BindFlags(fs)
	if err := sharedflags.Parse(fs, args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.AdmissionWebhooks {
		if err := o.checkAdmission(); err != nil {
			return o, err
		}
	}
	var err error
	if o.TenantContainerDefaults, err = tenantDefaults.containerDefaults(); err != nil {
		return o, err
	}
	return o, sharedflags.Check(shared)
}

// NewScheme returns a scheme with the Kubernetes built-in kinds and the AIAS kinds.
func NewScheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(aiasv1alpha1.AddToScheme(s))
	return s
}

// Run starts the manager and blocks until ctx is done or the manager fails.
func Run(ctx context.Context, cfg *rest.Config, o Options) error {
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&o.Zap)))
	log := ctrl.Log.WithName("manager")
	stepRuntime, err := controllers.ParseStepRuntime(o.StepRuntime)
	if err != nil {
		return err
	}

	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{
		BindAddress:   o.MetricsAddr,
		SecureServing: o.SecureMetrics,
		TLSOpts:       tlsOpts,
	}
	if o.SecureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	tokens, err := steptoken.LoadIssuer(o.StepTokenKeyFile)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, o.DatabaseURL, store.MaxConns(int32(o.DatabaseMaxConns)))
	if err != nil {
		return err
	}
	defer st.Close()

	leaseDuration := 15 * time.Second
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		// Secrets are read one at a time and rarely; caching them would mean holding every
		// Secret of the cluster in memory.
		Client: client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}},
		// Only step Jobs are cached: a cluster's other Jobs are none of AIAS's business
		// and would only cost memory.
		Cache: cache.Options{
			// managedFields are never read here and are a large part of every object.
			DefaultTransform: cache.TransformStripManagedFields(),
			ByObject: map[client.Object]cache.ByObject{
				&batchv1.Job{}: {Label: stepJobSelector(), Transform: jobTransform},
				// Only step Pods, trimmed to what the Run controller reads of them.
				&corev1.Pod{}: {Label: stepJobSelector(), Transform: controllers.StepPodTransform},
			},
		},
		Scheme:                  NewScheme(),
		Metrics:                 metricsOpts,
		WebhookServer:           webhook.NewServer(webhook.Options{TLSOpts: tlsOpts, Port: o.AdmissionPort, CertDir: o.AdmissionCerts.certDir()}),
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        o.LeaderElectionID,
		LeaderElectionNamespace: o.LeaderElectionNamespace,
		LeaseDuration:           &leaseDuration,
		// Hand the lease over at once on a clean shutdown so a rollout does not stall reconciling.
		LeaderElectionReleaseOnCancel: true,
		Controller:                    config.Controller{SkipNameValidation: ptr.To(o.RunAgain)},
	})
	if err != nil {
		return fmt.Errorf("creating manager: %w", err)
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		return err
	}
	if err := (&controllers.RunReconciler{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("aias-run"),
		Store: st, Tokens: tokens, RunnerImage: o.RunnerImage, StepRuntime: stepRuntime, InternalAPIURL: o.InternalAPIURL,
		DefaultPlan: o.DefaultPlan, PastDueGrace: o.PastDueGrace,
		ImagePullTimeout: o.StepImagePullTimeout, SchedulingTimeout: o.StepSchedulingTimeout,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the run controller: %w", err)
	}
	if err := (&controllers.WorkflowReconciler{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("aias-workflow"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the workflow controller: %w", err)
	}
	if err := (&controllers.WebhookEndpointReconciler{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder(controllers.WebhookEndpointEventRecorderName),
		PublicBaseURL: o.PublicBaseURL, Store: st,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the webhookendpoint controller: %w", err)
	}
	if err := (&controllers.ScheduleReconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder("aias-schedule"),
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the schedule controller: %w", err)
	}
	if err := (&controllers.TenantReconciler{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder(controllers.TenantEventRecorderName),
		DefaultPlan: o.DefaultPlan, PastDueGrace: o.PastDueGrace, Store: st,
		ContainerDefaults: o.TenantContainerDefaults, IsolateNetwork: o.TenantNetworkPolicy,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the tenant controller: %w", err)
	}
	if err := (&controllers.TenantUsageReconciler{
		Client: mgr.GetClient(), Recorder: mgr.GetEventRecorder(controllers.TenantUsageEventRecorderName),
		DefaultPlan: o.DefaultPlan, PastDueGrace: o.PastDueGrace, Store: st,
	}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the tenant usage controller: %w", err)
	}
	if err := (&controllers.StoreJanitor{Store: st, Runs: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the store janitor: %w", err)
	}
	if o.AdmissionWebhooks {
		if err := setupAdmission(mgr, o); err != nil {
			return err
		}
	}
	for _, extra := range o.Extra {
		if err := extra(mgr); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return err
	}
	// Ready once the informer caches have synced, so a Service never routes to a blind replica.
	if err := mgr.AddReadyzCheck("readyz", func(req *http.Request) error {
		if !mgr.GetCache().WaitForCacheSync(req.Context()) {
			return fmt.Errorf("caches not synced")
		}
		return nil
	}); err != nil {
		return err
	}
	log.Info("starting manager", "version", Version, "metrics", o.MetricsAddr, "probes", o.ProbeAddr, "leaderElection", o.LeaderElect)
	return mgr.Start(ctx)
}

// stepJobSelector matches the Jobs (and their Pods) the Run controller creates.
func stepJobSelector() labels.Selector {
	req, err := labels.NewRequirement(aiasv1alpha1.LabelRunUID, selection.Exists, nil)
	if err != nil {
		panic(err) // a constant label key: cannot fail
	}
	return labels.NewSelector().Add(*req)
}

// jobTransform trims cached step Jobs to what the controllers read: labels, owner,
// status. The spec (above all the pod template) is most of a Job's size; the Run
// controller makes a Pod from the Job it has just created or read from the apiserver,
// never from the cache, and a status write carries no spec (the apiserver keeps the
// stored one).
func jobTransform(obj any) (any, error) {
	if j, ok := obj.(*batchv1.Job); ok {
		j.ManagedFields, j.Annotations = nil, nil
		j.Spec = batchv1.JobSpec{ManagedBy: j.Spec.ManagedBy, ActiveDeadlineSeconds: j.Spec.ActiveDeadlineSeconds}
	}
	return obj, nil
}
