// Package e2e drives the whole product as a user does: `aias dev`'s stack (control plane,
// PostgreSQL, manager with every controller, webhookserver with its public, internal and
// user listeners, the dev kubelet running step Jobs as processes, the samples applied),
// reached through the web UI in Chromium and the CLI binary.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/devcluster"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
)

// Stack is the running product.
type Stack struct {
	UserURL    string        // base URL of the user API and web UI
	PublicURL  string        // base URL of the hook listener
	Token      string        // bearer token of ServiceAccount acme/ci, an editor of tenant acme
	Kubeconfig string        // admin kubeconfig
	Client     client.Client // admin client that knows the aias kinds
	Aias       string        // the aias binary under test
}

var stack Stack

// syncedLog is the stack's progress output, printed when the set-up fails.
type syncedLog struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *syncedLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	root := testenv.RepoRoot()
	dir, err := os.MkdirTemp("", "aias-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Run as root, the node agent runs step processes as the step's user (uid 65532):
	// the pod directories under the state dir must be reachable for it.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stack.Aias = filepath.Join(dir, "aias")
	if err := fixtures.BuildAias(context.Background(), stack.Aias); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	aiasStep := filepath.Join(dir, "aias-step") // what step Pods run
	if err := fixtures.BuildAiasStep(context.Background(), aiasStep); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out := &syncedLog{}
	ready := make(chan devcluster.Cluster, 1)
	done := make(chan error, 1)
	go func() {
		done <- devcluster.Run(ctx, devcluster.Options{
			StateDir: filepath.Join(dir, "state"), Out: out, AiasBinary: stack.Aias, StepBinary: aiasStep,
			CRDDir:      filepath.Join(root, "config", "crd", "bases"),
			SamplesDir:  filepath.Join(root, "config", "samples"),
			TenantRoles: filepath.Join(root, "config", "rbac", "tenant_roles.yaml"),
			PublicAddr:  "127.0.0.1:0", InternalAddr: "127.0.0.1:0", UserAddr: "127.0.0.1:0",
			Ready: func(c devcluster.Cluster) { ready <- c },
		})
	}()
	select {
	case c := <-ready:
		stack.UserURL, stack.PublicURL, stack.Token, stack.Kubeconfig = c.UserURL, c.PublicURL, c.Token, c.Kubeconfig
	case err := <-done:
		fmt.Fprintf(os.Stderr, "the dev stack did not start: %v\n%s", err, out.buf.String())
		return 1
	case <-time.After(3 * time.Minute):
		fmt.Fprintf(os.Stderr, "the dev stack did not start within 3 minutes\n%s", out.buf.String())
		return 1
	}
	if stack.Client, err = adminClient(stack.Kubeconfig); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}

	code := m.Run()
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "stopping the dev stack:", err)
		if code == 0 {
			code = 1
		}
	}
	if code != 0 {
		// The output includes the dashboard token `aias dev` prints: never log it.
		fmt.Fprintf(os.Stderr, "--- dev stack output ---\n%s", strings.ReplaceAll(out.buf.String(), stack.Token, "<token redacted>"))
	}
	return code
}

func adminClient(kubeconfig string) (client.Client, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(aiasv1alpha1.AddToScheme(scheme))
	return client.New(cfg, client.Options{Scheme: scheme})
}

// waitRunPhase polls until the Run reaches phase (or fails the test after timeout).
func waitRunPhase(t *testing.T, ns, name string, phase aiasv1alpha1.RunPhase, timeout time.Duration) *aiasv1alpha1.Run {
	t.Helper()
	deadline := time.Now().Add(timeout)
	run := &aiasv1alpha1.Run{}
	for {
		err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, run)
		if err == nil && run.Status.Phase == phase {
			return run
		}
		if err == nil && run.Status.Phase.Finished() {
			t.Fatalf("run %s/%s ended %s (%s), want %s", ns, name, run.Status.Phase, run.Status.Message, phase)
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s/%s is %q after %s, want %s (err %v)", ns, name, run.Status.Phase, timeout, phase, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
