// Package triggertest runs `aias trigger` as a user does: the built binary against the
// hook listener and the WebhookEndpoint controller on an envtest control plane. It is a
// package of its own so that package cli's tests start no processes (make test-unit).
package triggertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/controllers"
	"github.com/aias-dev/aias/internal/testrig/storetest"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/webhookserver"
)

// `aias trigger` as a user runs it: a real binary with a kubeconfig, against the real
// hook listener and WebhookEndpoint controller on envtest.
func TestTriggerDeliversSignedPayload(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st, cleanup, err := storetest.Open(ctx, "aias_cli_test")
	if err != nil {
		t.Fatal(err)
	}
	defer cleanup()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("t"), 32), 0o600); err != nil {
		t.Fatal(err)
	}

	addrs, _, err := webhookserver.Start(ctx, webhookserver.Options{
		PublicAddr: "127.0.0.1:0", InternalAddr: "0", MetricsAddr: "0",
		DatabaseURL: st.Pool().Config().ConnString(), StepTokenKeyFile: keyFile, RestConfig: env.Config,
	})
	if err != nil {
		t.Fatal(err)
	}
	public := "http://" + addrs.Public

	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{Scheme: scheme.Scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}, // go test -count=N starts it again
		Client:     client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := controllers.SetupIndexes(ctx, mgr); err != nil {
		t.Fatal(err)
	}
	if err := (&controllers.WebhookEndpointReconciler{PublicBaseURL: public}).SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	go func() { _ = mgr.Start(ctx) }()

	c := env.Client
	ns := "trigger-test"
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	for _, ep := range []*aiasv1alpha1.WebhookEndpoint{
		{ObjectMeta: metav1.ObjectMeta{Name: "std", Namespace: ns}, Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "gh", Namespace: ns}, Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"},
			Verification: aiasv1alpha1.Verification{Scheme: aiasv1alpha1.SchemeGitHub}}},
	} {
		if err := c.Create(ctx, ep); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"std", "gh"} {
		deadline := time.Now().Add(20 * time.Second)
		for {
			ep := &aiasv1alpha1.WebhookEndpoint{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, ep); err == nil && strings.HasPrefix(ep.Status.URL, public) && ep.Status.SecretRef != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("endpoint %s never got an absolute URL and a Secret", name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	admin, err := env.AddUser(envtest.User{Name: "trigger-user", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, _ := admin.KubeConfig()
	kcFile := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kcFile, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "aias")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aias")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building aias: %v\n%s", err, out)
	}
	trigger := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"trigger"}, args...)...)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kcFile)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	// The Secret may reach the listener's informers a moment after the endpoint's status.
	var out string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if out, err = trigger("std", "-n", ns, "--data", `{"ref":"main"}`, "--delivery-id", "d-1"); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil || !strings.Contains(out, " created ") {
		t.Fatalf("trigger: %v\n%s", err, out)
	}
	runName := strings.TrimPrefix(strings.Fields(out)[0], "run/")
	if out, err := trigger("std", "-n", ns, "--data", `{"ref":"main"}`, "--delivery-id", "d-1"); err != nil || !strings.Contains(out, "run/"+runName+" duplicate") {
		t.Errorf("repeat delivery: %v\n%s", err, out)
	}
	run := &aiasv1alpha1.Run{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: runName}, run); err != nil {
		t.Fatal(err)
	}
	if run.Spec.Input == nil || *run.Spec.Input != `{"ref":"main"}` || run.Spec.Trigger.DeliveryID != "d-1" {
		t.Errorf("run spec %+v", run.Spec)
	}
	dataFile := filepath.Join(dir, "payload.json")
	_ = os.WriteFile(dataFile, []byte(`{"from":"file"}`), 0o600)
	if out, err := trigger("gh", "-n", ns, "--data", "@"+dataFile); err != nil || !strings.Contains(out, " created ") {
		t.Errorf("github-scheme trigger from a file: %v\n%s", err, out)
	}
	if out, err := trigger("missing", "-n", ns); err == nil {
		t.Errorf("trigger of a missing endpoint succeeded:\n%s", out)
	}
	fmt.Fprintln(os.Stderr) // keep go test's output readable after the subprocesses
}
