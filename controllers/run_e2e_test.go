package controllers

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	corev1 "k8s.io/api/core/v1"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"strings"
	"sync"
	"testing"
	"time"

	"sigs.k8s.io/yaml"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/nodeagent"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/webhookserver/stepapi"
)

// builtBinDir holds the step runtime (cmd/aias-step) built for this package's tests;
// TestMain removes it.
var builtBinDir string

var buildAiasStep = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "aias-controllers-bin-")
	if err != nil {
		return "", err
	}
	builtBinDir = dir
	bin := filepath.Join(dir, "aias-step")
	build := exec.Command("go", "build", "-o", bin, "./cmd/aias-step")
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

// startNodeAgent runs a node agent for the harness on a Node of its own: the Pods the
// scheduler binds there run as local processes of the real step runtime, talking to the
// internal API at h.apiURL. It runs apart from the Run controller's manager, as a kubelet
// runs apart from the control plane, so restarting the manager leaves step processes
// running. It stops (and cordons its Node) when the test ends.
func (h *rtHarness) startNodeAgent() *nodeagent.Agent {
	h.t.Helper()
	bin, err := buildAiasStep()
	if err != nil {
		h.t.Fatal(err)
	}
	// Steps run as uid 65532: every directory down to the pods' must be searchable.
	root, err := os.MkdirTemp("", "aias-controllers-pods-")
	if err != nil {
		h.t.Fatal(err)
	}
	_ = os.Chmod(root, 0o755)
	agent := &nodeagent.Agent{Config: testEnv.Config, NodeName: "node-" + h.ns, WorkRoot: root,
		Binaries: map[string]string{stepjob.StepImageBinary: bin}, KeepFailed: true}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- agent.Run(ctx) }()
	h.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			h.t.Errorf("node agent: %v", err)
		}
		_ = os.RemoveAll(root)
	})
	select {
	case <-agent.Ready():
	case err := <-done:
		h.t.Fatalf("node agent: %v", err)
	case <-time.After(30 * time.Second):
		h.t.Fatal("node agent not ready after 30 s")
	}
	return agent
}

// The shipped sample workflow, end to end: each attempt's Pod is bound by the scheduler
// and runs as real processes under step-run, outputs land in the store, and the Run's
// status tells the story.
func TestRunEndToEndWithNodeAgent(t *testing.T) {
	h := newRunHarnessNoStart(t)
	api := httptest.NewServer((&stepapi.Server{Store: testStore, Tokens: h.tokens, MaxArtifactBytes: 16 << 20, MaxLogBatch: 1000}).Handler())
	defer api.Close()
	h.apiURL = api.URL
	h.startNodeAgent()
	h.start()

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
	h.startNodeAgent()
	h.start()

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

// A step whose Pod is killed mid-step (as an OOM kill or a crash would) fails that
// attempt with the container's exit code, and the retry's new attempt runs to the end.
func TestRunPodKilledMidStepIsRetried(t *testing.T) {
	h := newRunHarnessNoStart(t)
	agent := h.startStepRuntime()
	h.start()
	s := step("s")
	s.Command = []string{"sh", "-c", `if [ "$AIAS_ATTEMPT" = 1 ]; then sleep 60; fi; echo '{"done":true}'`}
	s.Retries = &aiasv1alpha1.RetryPolicy{Limit: 1, Backoff: &aiasv1alpha1.RetryBackoff{Duration: &metav1Duration{Duration: 100 * time.Millisecond}}}
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{s}})
	h.run("killed", "w", "")
	h.eventually(30*time.Second, "the first attempt's Pod Running", func() (bool, string) {
		pod := h.pods("killed")["killed-s-1"]
		return pod != nil && pod.Status.Phase == corev1.PodRunning, fmt.Sprint(pod != nil)
	})
	if err := agent.Kill(h.ns, "killed-s-1"); err != nil {
		t.Fatal(err)
	}
	run := h.waitPhaseWithin("killed", aiasv1alpha1.RunSucceeded, 60*time.Second)
	if st := run.Status.Steps[0]; st.Attempts != 2 {
		t.Errorf("step %+v, want 2 attempts", st)
	}
	first := h.pods("killed")["killed-s-1"]
	if code := stepExitCode(first); first.Status.Phase != corev1.PodFailed || code == nil || *code != 137 {
		t.Errorf("first Pod %s, exit code %v", first.Status.Phase, code)
	}
	var events corev1.EventList
	if err := h.c.List(h.ctx, &events, client.InNamespace(h.ns)); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, e := range events.Items {
		found = found || e.Reason == "StepRetrying" && strings.Contains(e.Message, "killed (exit code 137)")
	}
	if !found {
		t.Error("no StepRetrying event naming the kill")
	}
}
