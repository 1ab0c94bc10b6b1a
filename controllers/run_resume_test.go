package controllers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Resuming a Run that failed at its third step of five runs only the third to fifth: the
// first two take the original's outputs (cachedFrom, no Job), and the resumed Run runs the
// original's frozen spec even after the Workflow changed.
func TestRunResume(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	dir, err := os.MkdirTemp("", "aias-resume-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil { // the steps' user writes its marker here
		t.Fatal(err)
	}
	marker := filepath.Join(dir, "fail-once")
	sh := func(name, script string) aiasv1alpha1.WorkflowStep {
		s := step(name)
		s.Command = []string{"sh", "-c", script, "sh"}
		s.Env = []corev1.EnvVar{{Name: "MARKER", Value: marker}}
		return s
	}
	steps := []aiasv1alpha1.WorkflowStep{
		sh("a", `printf '{"a":1}'`), sh("b", `printf '{"b":2}'`),
		sh("c", `[ -f "$MARKER" ] || { touch "$MARKER"; echo "flaky dependency" >&2; exit 7; }; cat`),
		sh("d", "cat"), sh("e", "cat"),
	}
	steps[0].DependsOn = []string{}
	wf := h.workflow("five", aiasv1alpha1.WorkflowSpec{Steps: steps})

	h.run("five-1", "five", "")
	orig := h.waitPhaseWithin("five-1", aiasv1alpha1.RunFailed, time.Minute)
	if got := stepPhases(orig); got != "a=Succeeded/1,b=Succeeded/1,c=Failed/1,d=Skipped/0,e=Skipped/0" {
		t.Fatalf("original: %s", got)
	}
	// The Workflow changes meanwhile: the resumed Run still runs what the original froze.
	wf.Spec.Steps[3].Command = []string{"sh", "-c", "exit 9"}
	if err := h.c.Update(h.ctx, wf); err != nil {
		t.Fatal(err)
	}

	resumed := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "five-1-resume", Namespace: h.ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "five"}, ResumeOf: "five-1",
			Trigger: &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerResume}}}
	if err := h.c.Create(h.ctx, resumed); err != nil {
		t.Fatal(err)
	}
	run := h.waitPhaseWithin("five-1-resume", aiasv1alpha1.RunSucceeded, time.Minute)
	if got := stepPhases(run); got != "a=Succeeded/0,b=Succeeded/0,c=Succeeded/1,d=Succeeded/1,e=Succeeded/1" {
		t.Errorf("resumed: %s", got)
	}
	for i, st := range run.Status.Steps[:2] {
		if st.CachedFrom == nil || st.CachedFrom.Run != "five-1" || st.OutputDigest != orig.Status.Steps[i].OutputDigest {
			t.Errorf("step %s: cachedFrom %+v digest %s, want five-1's", st.Name, st.CachedFrom, st.OutputDigest)
		}
	}
	if run.Status.SpecDigest != orig.Status.SpecDigest {
		t.Errorf("resumed spec %s, want the original's %s", run.Status.SpecDigest, orig.Status.SpecDigest)
	}
	if got := stepResult(t, run, "e"); got != `{"b":2}` {
		t.Errorf("e's result %q: c read b's result, taken from the original", got)
	}
	var names []string
	for name := range h.jobs("five-1-resume") {
		names = append(names, name)
	}
	if len(names) != 3 || strings.Contains(strings.Join(names, ","), "-a-") || strings.Contains(strings.Join(names, ","), "-b-") {
		t.Errorf("resumed Run's Jobs %v, want c, d and e only", names)
	}
}
