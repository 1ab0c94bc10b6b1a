package manager

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// The admission webhooks need no cert-manager: `aias manager --admission-webhooks`, with
// only the empty Secret and the ValidatingWebhookConfiguration of config/ in place,
// generates a CA and a serving certificate for the webhook Service into the Secret, puts
// the CA into the configuration's caBundle, stays not ready until the certificate is
// mounted (the test plays the kubelet and copies the Secret into the cert directory), and
// then serves the webhooks with a certificate the injected CA verifies for the Service's
// name. On main the manager had no such flags (and needed the certificate from
// cert-manager or the installer).
func TestManagerRotatesAdmissionCertificate(t *testing.T) {
	env, dbURL, keyFile := managerEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client
	const ns, secretName = "aias-system", "aias-manager-webhook-cert"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
	// What config/webhook installs: the Secret, empty, and the webhook configuration
	// without a caBundle.
	rendered := testenv.Kustomize(t, "default")
	secret := &corev1.Secret{}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	rendered.Get(t, "Secret", secretName, secret)
	rendered.Get(t, "ValidatingWebhookConfiguration", defaultAdmissionWebhookConfig, vwc)
	if len(secret.Data)+len(secret.StringData) != 0 {
		t.Fatalf("config/ ships Secret %s with data; the rotator fills it", secretName)
	}
	for _, w := range vwc.Webhooks {
		if len(w.ClientConfig.CABundle) != 0 {
			t.Fatalf("config/ ships webhook %s with a caBundle; the rotator sets it", w.Name)
		}
	}
	// Nothing in this control plane can reach the Service: let it not stand in the way of
	// the package's other writes while the test runs.
	for i := range vwc.Webhooks {
		ignore := admissionregistrationv1.Ignore
		vwc.Webhooks[i].FailurePolicy = &ignore
	}
	for _, o := range []client.Object{secret, vwc} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	defer func() { _ = c.Delete(context.Background(), vwc); _ = c.Delete(context.Background(), secret) }()

	certDir := t.TempDir()
	_, port, _ := net.SplitHostPort(freeAddr(t))
	opts, err := ParseFlags([]string{
		"--database-url=" + dbURL, "--step-token-key-file=" + keyFile,
		"--metrics-bind-address=0", "--health-probe-bind-address=" + freeAddr(t),
		"--admission-webhooks", "--admission-namespace=" + ns, "--admission-port=" + port,
	})
	if err != nil {
		t.Fatal(err)
	}
	opts.AdmissionCerts.CertDir, opts.RunAgain = certDir, true
	done := make(chan error, 1)
	go func() { done <- Run(ctx, env.Config, opts) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped with %v", err)
		}
	}()

	// Not ready while the certificate is not mounted, saying why.
	readyz := "http://" + opts.ProbeAddr + "/readyz?verbose"
	waitFor(t, 30*time.Second, "readyz to wait for the serving certificate", func() (bool, string) {
		code, body := get(readyz)
		return code != http.StatusOK && bytes.Contains(body, []byte("[-]admission-webhook failed")), fmt.Sprintf("%d %s", code, body)
	})
	// The rotator writes the Secret; the kubelet would then update the mounted files.
	waitFor(t, 30*time.Second, "the rotator to fill the Secret", func() (bool, string) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
			return false, err.Error()
		}
		return len(secret.Data["tls.crt"]) > 0 && len(secret.Data["tls.key"]) > 0 && len(secret.Data["ca.crt"]) > 0, fmt.Sprintf("keys %d", len(secret.Data))
	})
	for _, f := range []string{"tls.crt", "tls.key"} {
		if err := os.WriteFile(filepath.Join(certDir, f), secret.Data[f], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 90*time.Second, "readyz", func() (bool, string) {
		code, body := get(readyz)
		return code == http.StatusOK, fmt.Sprintf("%d %s", code, body)
	})

	if err := c.Get(ctx, client.ObjectKeyFromObject(vwc), vwc); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(secret), secret); err != nil {
		t.Fatal(err)
	}
	for _, w := range vwc.Webhooks {
		if !bytes.Equal(w.ClientConfig.CABundle, secret.Data["ca.crt"]) {
			t.Errorf("webhook %s caBundle is not the CA in Secret %s", w.Name, secretName)
		}
	}
	// The API server's view: the Service's name, verified against the caBundle.
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(vwc.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("the caBundle holds no certificate")
	}
	var svc *admissionregistrationv1.ServiceReference
	for _, w := range vwc.Webhooks {
		if w.Name == "vworkflow.aias.dev" {
			svc = w.ClientConfig.Service
		}
	}
	if svc == nil {
		t.Fatal("no webhook vworkflow.aias.dev")
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, ServerName: svc.Name + "." + svc.Namespace + ".svc", MinVersion: tls.VersionTLS12,
	}}}
	review, _ := json.Marshal(map[string]any{
		"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"request": map[string]any{
			"uid": "00000000-0000-0000-0000-000000000001", "operation": "CREATE", "namespace": "no-tenant", "name": "w",
			"kind":     map[string]any{"group": "aias.dev", "version": "v1alpha1", "kind": "Workflow"},
			"resource": map[string]any{"group": "aias.dev", "version": "v1alpha1", "resource": "workflows"},
			"object": map[string]any{"apiVersion": "aias.dev/v1alpha1", "kind": "Workflow",
				"metadata": map[string]any{"name": "w", "namespace": "no-tenant"},
				"spec":     map[string]any{"steps": []any{map[string]any{"name": "a", "image": "busybox"}}}},
		},
	})
	resp, err := hc.Post("https://"+net.JoinHostPort("127.0.0.1", strconv.Itoa(opts.AdmissionPort))+*svc.Path, "application/json", bytes.NewReader(review))
	if err != nil {
		t.Fatalf("calling the webhook as the API server would: %v", err)
	}
	defer resp.Body.Close()
	var out struct {
		Response struct {
			Allowed bool `json:"allowed"`
			Result  struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK || !out.Response.Allowed {
		t.Errorf("webhook answered %d %+v (%v), want a Workflow in a namespace of no Tenant allowed", resp.StatusCode, out, err)
	}
}

func get(url string) (int, []byte) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, []byte(err.Error())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
