package controllers

import (
	"testing"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Run `a-b` of a Workflow with step `c` and Run `a` of one with step `b-c` once both
// claimed Job `a-b-c-1`: the second Run waited forever behind the first's Job. Now each
// has its own, a manager restart finds the same one, and both succeed.
func TestRunsWhoseJoinedNamesCollide(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w1", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("c")}})
	h.workflow("w2", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("b-c")}})
	h.run("a-b", "w1", "")
	h.run("a", "w2", "")
	first, second := jobName("a-b", "c", 1), jobName("a", "b-c", 1)
	h.waitJobs("a-b", first)
	h.waitJobs("a", second)
	h.eventually(10*time.Second, "the second attempt in status", func() (bool, string) {
		run := h.get("a")
		return len(run.Status.Steps) == 1 && run.Status.Steps[0].JobName == second, stepPhases(run)
	})
	h.stop()
	h.stop = nil
	h.start()
	h.finishJob("a", second, 0, `{"b-c":1}`)
	h.finishJob("a-b", first, 0, `{"c":1}`)
	h.waitPhase("a", aiasv1alpha1.RunSucceeded)
	h.waitPhase("a-b", aiasv1alpha1.RunSucceeded)
	if got := jobNames(h.jobs("a")); len(got) != 1 || got[0] != second {
		t.Errorf("Run a has Jobs %v, want only %s", got, second)
	}
}
