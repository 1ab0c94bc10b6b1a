package controllers

import (
	"fmt"
	"strings"
	"testing"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Ten Runs for one branch under Replace, keyed by branch: the newest runs to the end,
// the nine before it end Canceled, reason Superseded, naming a newer Run; a Run of
// another branch runs beside them, untouched.
func TestRunConcurrencyKeyReplace(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("ci", aiasv1alpha1.WorkflowSpec{
		Params:      []aiasv1alpha1.WorkflowParam{{Name: "branch", Required: true}},
		Concurrency: &aiasv1alpha1.ConcurrencyPolicy{Policy: aiasv1alpha1.ConcurrencyReplace, Key: "params.branch"},
		Steps:       []aiasv1alpha1.WorkflowStep{step("a")},
	})
	h.runWithParams("dev-0", "ci", map[string]string{"branch": "dev"})
	for i := range 10 {
		h.runWithParams(fmt.Sprintf("main-%d", i), "ci", map[string]string{"branch": "main"})
	}
	h.waitJobs("dev-0", "dev-0-a-1")
	h.waitJobs("main-9", "main-9-a-1")
	for i := range 9 {
		name := fmt.Sprintf("main-%d", i)
		run := h.waitPhase(name, aiasv1alpha1.RunCanceled)
		c := readyCondition(run)
		if c == nil || c.Reason != aiasv1alpha1.RunReasonSuperseded || !strings.HasPrefix(run.Status.Message, "superseded by run main-") {
			t.Errorf("%s: ready %+v, message %q", name, c, run.Status.Message)
		}
		if by := strings.TrimPrefix(run.Status.Message, "superseded by run "); by <= name {
			t.Errorf("%s was superseded by %s, an older run", name, by)
		}
	}
	h.finishJob("main-9", "main-9-a-1", 0, "")
	h.finishJob("dev-0", "dev-0-a-1", 0, "")
	if run := h.waitPhase("main-9", aiasv1alpha1.RunSucceeded); run.Status.ConcurrencyKey != "main" {
		t.Errorf("main-9 concurrency key %q", run.Status.ConcurrencyKey)
	}
	h.waitPhase("dev-0", aiasv1alpha1.RunSucceeded)
}

// Forbid per key: a second Run of a busy branch is Rejected, one of another branch runs.
func TestRunConcurrencyKeyForbid(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("deploy", aiasv1alpha1.WorkflowSpec{
		Params:      []aiasv1alpha1.WorkflowParam{{Name: "env", Required: true}},
		Concurrency: &aiasv1alpha1.ConcurrencyPolicy{Policy: aiasv1alpha1.ConcurrencyForbid, Key: `"env-" + params.env`},
		Steps:       []aiasv1alpha1.WorkflowStep{step("a")},
	})
	h.runWithParams("prod-1", "deploy", map[string]string{"env": "prod"})
	h.waitJobs("prod-1", "prod-1-a-1")
	h.runWithParams("prod-2", "deploy", map[string]string{"env": "prod"})
	h.runWithParams("qa-1", "deploy", map[string]string{"env": "qa"})
	run := h.waitPhase("prod-2", aiasv1alpha1.RunRejected)
	if c := readyCondition(run); c == nil || c.Reason != "ConcurrencyForbidden" || !strings.Contains(c.Message, `concurrency key "env-prod"`) {
		t.Errorf("ready = %+v", c)
	}
	h.waitJobs("qa-1", "qa-1-a-1")
}
