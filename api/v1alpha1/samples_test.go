package v1alpha1_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// Every sample must apply with the real kubectl, server-side, exactly as the README and docs/reference tell
// users to; and `kubectl get` must show the printer columns docs/reference documents.
func TestSamplesApplyWithKubectl(t *testing.T) {
	kubectl := adminKubectl(t)

	samples, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil || len(samples) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	for _, f := range samples {
		out := runKubectl(t, kubectl, "apply", "--server-side", "--field-manager=samples-test", "-f", f)
		if !strings.Contains(out, "serverside-applied") {
			t.Errorf("%s: unexpected kubectl output:\n%s", filepath.Base(f), out)
		}
	}

	wantColumns := map[string][]string{
		"runs":             {"NAME", "WORKFLOW", "PHASE", "STEPS", "AGE", "DURATION"},
		"workflows":        {"NAME", "STEPS", "LAST RUN", "LAST PHASE", "READY", "AGE"},
		"webhookendpoints": {"NAME", "WORKFLOW", "URL", "READY", "AGE"},
	}
	out := runKubectl(t, kubectl, "get", "runs,workflows,webhookendpoints", "-n", "acme")
	for kind, cols := range wantColumns {
		header := headerFor(out, kind)
		if header == "" {
			t.Errorf("no %s table in:\n%s", kind, out)
			continue
		}
		for _, c := range cols {
			if !strings.Contains(header, c) {
				t.Errorf("%s header %q lacks column %q", kind, header, c)
			}
		}
	}
	for _, want := range []string{"release-notes-manual-1", "release-notes", "github-push"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get output lacks %q:\n%s", want, out)
		}
	}

	out = runKubectl(t, kubectl, "get", "tenants,plans")
	for _, want := range []string{"PLAN", "SUBSCRIPTION", "acme", "free", "pro"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get tenants,plans lacks %q:\n%s", want, out)
		}
	}
	// The category groups every kind for `kubectl get aias`.
	out = runKubectl(t, kubectl, "get", "aias", "-n", "acme")
	for _, want := range []string{"workflow.aias.dev/release-notes", "webhookendpoint.aias.dev/github-push", "run.aias.dev/release-notes-manual-1"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get aias lacks %q:\n%s", want, out)
		}
	}
}

// headerFor finds the header line of the table kubectl printed for kind: the line that
// precedes the first row naming "<kind singular>.aias.dev/".
func headerFor(out, kind string) string {
	prefix := strings.TrimSuffix(kind, "s") + ".aias.dev/"
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, prefix) && i > 0 {
			return lines[i-1]
		}
	}
	return ""
}

// adminKubectl returns a kubectl invocation bound to a system:masters user of the test control plane.
func adminKubectl(t *testing.T) []string {
	t.Helper()
	user, err := env.ControlPlane.AddUser(envtest.User{Name: "samples-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig, err := user.KubeConfig()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, kubeconfig, 0o600); err != nil {
		t.Fatal(err)
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(assets, "kubectl")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("kubectl missing (run make envtest): %v", err)
	}
	return []string{bin, "--kubeconfig", path}
}

func runKubectl(t *testing.T, kubectl []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(kubectl[0], append(kubectl[1:], args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

// The kustomize install (config/default) must be accepted by a real apiserver as a whole:
// CRDs, RBAC, the namespace, the Deployment and the metrics Service.
func TestConfigDefaultApplies(t *testing.T) {
	kubectl := adminKubectl(t)
	rendered := runKubectl(t, kubectl, "kustomize", filepath.Join(testenv.RepoRoot(), "config", "default"))
	path := filepath.Join(t.TempDir(), "install.yaml")
	if err := os.WriteFile(path, []byte(rendered), 0o600); err != nil {
		t.Fatal(err)
	}
	out := runKubectl(t, kubectl, "apply", "--server-side", "--force-conflicts", "--field-manager=install-test", "-f", path)
	for _, want := range []string{
		"namespace/aias-system", "deployment.apps/aias-manager", "clusterrole.rbac.authorization.k8s.io/aias-manager",
		"serviceaccount/aias-manager", "service/aias-manager-metrics", "customresourcedefinition.apiextensions.k8s.io/runs.aias.dev",
	} {
		if !strings.Contains(out, want+" serverside-applied") {
			t.Errorf("install lacks %s:\n%s", want, out)
		}
	}
}
