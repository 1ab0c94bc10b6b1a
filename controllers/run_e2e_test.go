package controllers

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/yaml"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/devkubelet"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testenv"
	"github.com/aias-dev/aias/webhookserver/stepapi"
)

// builtBinDir holds the aias binary built for this package's tests; TestMain removes it.
var builtBinDir string

var buildAias = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "aias-controllers-bin-")
	if err != nil {
		return "", err
	}
	builtBinDir = dir
	bin := filepath.Join(dir, "aias")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aias")
	build.Dir = testenv.RepoRoot()
	if out, err := build.CombinedOutput(); err != nil {
		return "", &buildError{err, string(out)}
	}
	return bin, nil
})

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// withDevKubelet runs the harness's Jobs as local processes of the real aias binary,
// talking to a real internal API on the package's store.
func withDevKubelet(t *testing.T, h *rtHarness) func(ctrl.Manager) error {
	bin, err := buildAias()
	if err != nil {
		t.Fatal(err)
	}
	return func(mgr ctrl.Manager) error {
		k := &devkubelet.Kubelet{Binaries: map[string]string{stepjob.ImageBinary: bin}, WorkRoot: t.TempDir(), Namespaces: []string{h.ns}, KeepFailed: true}
		return k.SetupWithManager(mgr)
	}
}

// The shipped sample workflow, end to end: Jobs run as real processes under step-run,
// outputs land in the store, and the Run's status tells the story.
func TestRunEndToEndWithDevKubelet(t *testing.T) {
	h := newRunHarnessNoStart(t)
	api := httptest.NewServer((&stepapi.Server{Store: testStore, Tokens: h.tokens, MaxArtifactBytes: 16 << 20, MaxLogBatch: 1000}).Handler())
	defer api.Close()
	h.apiURL = api.URL
	h.start(withDevKubelet(t, h))

	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "03-workflow.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wf := &aiasv1alpha1.Workflow{}
	if err := yaml.Unmarshal(raw, wf); err != nil {
		t.Fatal(err)
	}
	wf.Namespace = h.ns
	if err := h.c.Create(h.ctx, wf); err != nil {
		t.Fatal(err)
	}
	h.run("demo", wf.Name, `{"ref":"refs/heads/main","commits":3}`)
	run := h.waitPhaseWithin("demo", aiasv1alpha1.RunSucceeded, 60*time.Second)

	if run.Status.StepsSummary != "3/3" {
		t.Errorf("steps %s", stepPhases(run))
	}
	results := map[string]string{}
	for _, a := range run.Status.Artifacts {
		if a.Name != "result" {
			continue
		}
		r, _, err := testStore.OpenBlob(context.Background(), a.Digest)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		results[a.Step] = string(b)
	}
	var parsed struct {
		Received struct{ Commits int } `json:"received"`
	}
	if err := json.Unmarshal([]byte(results["parse"]), &parsed); err != nil || parsed.Received.Commits != 3 {
		t.Errorf("parse result %q (%v)", results["parse"], err)
	}
	if !strings.HasPrefix(results["count"], `{"bytes":`) || !strings.HasPrefix(results["summarize"], "release notes generated at ") {
		t.Errorf("results %q", results)
	}
	lines, err := testStore.ReadLogs(h.ctx, store.LogTarget{RunUID: string(run.UID), Step: "summarize", Attempt: 1}, "stdout", 0, 10)
	if err != nil || len(lines) != 1 {
		t.Errorf("summarize log %v, %v", lines, err)
	}
}

// A failing command's exit code and reason reach the Run status through step-run's
// reported outcome; a step timeout kills the process.
func TestRunEndToEndFailureAndTimeout(t *testing.T) {
	h := newRunHarnessNoStart(t)
	api := httptest.NewServer((&stepapi.Server{Store: testStore, Tokens: h.tokens, MaxArtifactBytes: 16 << 20, MaxLogBatch: 1000}).Handler())
	defer api.Close()
	h.apiURL = api.URL
	h.start(withDevKubelet(t, h))

	fail := step("fail")
	fail.Command = []string{"sh", "-c", "echo about to fail >&2; exit 3"}
	slow := step("slow")
	slow.Command = []string{"sleep", "30"}
	slow.Timeout = &metav1Duration{Duration: 2 * time.Second}
	slow.DependsOn = []string{}
	h.workflow("bad", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{fail, slow}})
	h.run("bad", "bad", "")
	run := h.waitPhaseWithin("bad", aiasv1alpha1.RunFailed, 60*time.Second)
	f, s := run.Status.Steps[0], run.Status.Steps[1]
	if f.Phase != aiasv1alpha1.StepFailed || f.ExitCode == nil || *f.ExitCode != 3 || f.Message != "command exited with code 3" {
		t.Errorf("fail step %+v", f)
	}
	if s.Phase != aiasv1alpha1.StepFailed || s.Message != "timed out after 2s" {
		t.Errorf("slow step %+v", s)
	}
}
