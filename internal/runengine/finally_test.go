package runengine

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

// finallyInput is a Run of spec (steps, then finally) with the given status.
func finallyInput(spec aiasv1alpha1.WorkflowSpec, status []aiasv1alpha1.StepStatus, attempts ...Attempt) Input {
	all, main := spec.RunSteps()
	in := input(all.Steps, status, attempts...)
	in.Spec, in.MainSteps = all, main
	return in
}

func TestDecideFinally(t *testing.T) {
	notify := aiasv1alpha1.WorkflowStep{Name: "notify", Image: "busybox", Args: []string{"$(run.phase)", "$(run.failedSteps)"}}
	cleanup := aiasv1alpha1.WorkflowStep{Name: "cleanup", Image: "busybox"}
	onFailure := aiasv1alpha1.WorkflowStep{Name: "page", Image: "busybox", When: `run.phase == "Failed" && run.failedSteps == "b"`}
	spec := aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a", []string{}...), step("b", "a"), step("c", "b")},
		Finally: []aiasv1alpha1.WorkflowStep{notify, onFailure, cleanup}}
	cases := []struct {
		name       string
		in         Input
		wantPhases string
		wantStarts []string
		wantFinish string
		wantMsg    string
	}{{
		name: "finally steps wait while a main step runs",
		in: finallyInput(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0),
			st("notify", aiasv1alpha1.StepPending, 0), st("page", aiasv1alpha1.StepPending, 0), st("cleanup", aiasv1alpha1.StepPending, 0)}, running("a", 1)),
		wantPhases: "a=Running b=Pending c=Pending notify=Pending page=Pending cleanup=Pending",
	}, {
		name: "after success: the first finally step starts in the pass the last step succeeds; page is skipped by its when in a later pass",
		in: finallyInput(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepSucceeded, 1), st("c", aiasv1alpha1.StepRunning, 1),
			st("notify", aiasv1alpha1.StepPending, 0), st("page", aiasv1alpha1.StepPending, 0), st("cleanup", aiasv1alpha1.StepPending, 0)}, succeeded("c", 1, t0)),
		wantPhases: "a=Succeeded b=Succeeded c=Succeeded notify=Running page=Pending cleanup=Pending",
		wantStarts: []string{"notify"},
	}, {
		name: "after a failure: pending main steps are skipped and the finally steps start in the same pass",
		in: finallyInput(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepRunning, 1), st("c", aiasv1alpha1.StepPending, 0),
			st("notify", aiasv1alpha1.StepPending, 0), st("page", aiasv1alpha1.StepPending, 0), st("cleanup", aiasv1alpha1.StepPending, 0)},
			failed("b", 1, t0, End{Reason: "BackoffLimitExceeded", Report: &Report{ExitCode: 2, Message: "boom"}})),
		wantPhases: "a=Succeeded b=Failed c=Skipped notify=Running page=Pending cleanup=Pending",
		wantStarts: []string{"notify"},
	}, {
		name: "a finally step's when reads how the steps ended",
		in: finallyInput(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepFailed, 1), st("c", aiasv1alpha1.StepSkipped, 0),
			st("notify", aiasv1alpha1.StepRunning, 1), st("page", aiasv1alpha1.StepPending, 0), st("cleanup", aiasv1alpha1.StepPending, 0)}, succeeded("notify", 1, t0)),
		wantPhases: "a=Succeeded b=Failed c=Skipped notify=Succeeded page=Running cleanup=Pending",
		wantStarts: []string{"page"},
	}, {
		name: "the Run ends once the finally steps ended, failed by its step",
		in: finallyInput(spec, []aiasv1alpha1.StepStatus{{Name: "a", Phase: aiasv1alpha1.StepSucceeded}, {Name: "b", Phase: aiasv1alpha1.StepFailed, Message: "boom"}, st("c", aiasv1alpha1.StepSkipped, 0),
			st("notify", aiasv1alpha1.StepSucceeded, 1), st("page", aiasv1alpha1.StepSucceeded, 1), st("cleanup", aiasv1alpha1.StepRunning, 1)}, succeeded("cleanup", 1, t0)),
		wantPhases: "a=Succeeded b=Failed c=Skipped notify=Succeeded page=Succeeded cleanup=Succeeded",
		wantFinish: "Failed",
		wantMsg:    "step b failed: boom",
	}, {
		name: "a failing finally step fails a successful Run, and the steps after it are skipped",
		in: finallyInput(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepSucceeded, 1), st("c", aiasv1alpha1.StepSucceeded, 1),
			st("notify", aiasv1alpha1.StepRunning, 1), st("page", aiasv1alpha1.StepPending, 0), st("cleanup", aiasv1alpha1.StepPending, 0)},
			failed("notify", 1, t0, End{Reason: "BackoffLimitExceeded", Report: &Report{ExitCode: 1, Message: "slack down"}})),
		wantPhases: "a=Succeeded b=Succeeded c=Succeeded notify=Failed page=Skipped cleanup=Skipped",
		wantFinish: "Failed",
		wantMsg:    "finally step notify failed: slack down",
	}, {
		name: "both failed: the step's failure comes first",
		in: finallyInput(spec, []aiasv1alpha1.StepStatus{{Name: "a", Phase: aiasv1alpha1.StepSucceeded}, {Name: "b", Phase: aiasv1alpha1.StepFailed, Message: "boom"}, st("c", aiasv1alpha1.StepSkipped, 0),
			st("notify", aiasv1alpha1.StepSucceeded, 1), st("page", aiasv1alpha1.StepSucceeded, 1), st("cleanup", aiasv1alpha1.StepRunning, 1)},
			failed("cleanup", 1, t0, End{Reason: "BackoffLimitExceeded", Report: &Report{ExitCode: 1, Message: "rm failed"}})),
		wantPhases: "a=Succeeded b=Failed c=Skipped notify=Succeeded page=Succeeded cleanup=Failed",
		wantFinish: "Failed",
		wantMsg:    "step b failed: boom; finally step cleanup failed: rm failed",
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decideAndCheck(t, tc.in, tc.wantPhases, tc.wantStarts)
			switch {
			case tc.wantFinish == "" && d.Finish != nil:
				t.Errorf("finished %+v", d.Finish)
			case tc.wantFinish != "" && (d.Finish == nil || string(d.Finish.Phase) != tc.wantFinish || d.Finish.Message != tc.wantMsg):
				t.Errorf("finish = %+v, want %s %q", d.Finish, tc.wantFinish, tc.wantMsg)
			}
		})
	}
}

// $(run.phase) and $(run.failedSteps) reach a finally step's args; a result holding the
// same text stays literal.
func TestResolveFinallyStep(t *testing.T) {
	s := &aiasv1alpha1.WorkflowStep{Name: "notify", Image: "busybox", Args: []string{"$(run.phase):$(run.failedSteps)", "$(steps.a.result)"}}
	got, err := ResolveStep(s, map[string]any{"a": "$(run.phase)"}, &workflowexprRun, nil)
	if err != nil || got.Args[0] != "Failed:b,c" || got.Args[1] != "$(run.phase)" {
		t.Fatalf("ResolveStep = %+v, %v", got, err)
	}
}

var workflowexprRun = workflowexpr.RunVars{Phase: "Failed", FailedSteps: "b,c"}

// A Run stopped before its steps ended — past its timeout, or canceled (Status.Stopping)
// — ends its steps, still runs its finally steps, bounded by finallyTimeout, and ends as
// the stop says.
func TestDecideFinallyAfterStop(t *testing.T) {
	notify := aiasv1alpha1.WorkflowStep{Name: "notify", Image: "busybox", When: `run.phase != "Succeeded"`}
	spec := aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a", []string{}...), step("b", "a")},
		Finally: []aiasv1alpha1.WorkflowStep{notify}, Timeout: &metav1.Duration{Duration: 30 * time.Second}}
	canceled := &aiasv1alpha1.RunStop{Reason: aiasv1alpha1.RunReasonCanceled, Message: "canceled by spec.cancel", Time: metav1.NewTime(t0.Add(50 * time.Second))}
	stopped := func(in Input, stop *aiasv1alpha1.RunStop) Input { in.Status.Stopping = stop; return in }
	later := func(in Input, d time.Duration) Input { in.Now = in.Now.Add(d); return in }

	// Past its timeout (the input's now is a minute after its start): a stop, not an end.
	d := decideAndCheck(t, finallyInput(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1), st("b", aiasv1alpha1.StepPending, 0), st("notify", aiasv1alpha1.StepPending, 0)}, running("a", 1)),
		"a=Failed b=Skipped notify=Running", []string{"notify"})
	if d.Stop == nil || d.Stop.Reason != aiasv1alpha1.RunReasonTimeout || d.Finish != nil {
		t.Errorf("timeout: stop %+v, finish %+v; want a Timeout stop and no end yet", d.Stop, d.Finish)
	}

	// Canceled: its running step is canceled, the finally step reads run.phase Canceled.
	d = decideAndCheck(t, stopped(finallyInput(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepRunning, 1), st("notify", aiasv1alpha1.StepPending, 0)}, running("b", 1)), canceled),
		"a=Succeeded b=Canceled notify=Running", []string{"notify"})
	if d.Stop != nil || d.Finish != nil {
		t.Errorf("canceled: stop %+v, finish %+v", d.Stop, d.Finish)
	}

	// Its finally step ended: the Run ends Canceled, with the stop's message.
	d = decideAndCheck(t, stopped(finallyInput(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepCanceled, 1), st("notify", aiasv1alpha1.StepRunning, 1)}, succeeded("notify", 1, t0)), canceled),
		"a=Succeeded b=Canceled notify=Succeeded", nil)
	if f := d.Finish; f == nil || f.Phase != aiasv1alpha1.RunCanceled || f.Reason != aiasv1alpha1.RunReasonCanceled || f.Message != "canceled by spec.cancel" {
		t.Errorf("finish %+v", d.Finish)
	}

	// finallyTimeout (default 10m from the stop) fails the finally step still running.
	d = decideAndCheck(t, later(stopped(finallyInput(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepCanceled, 1), st("notify", aiasv1alpha1.StepRunning, 1)}, running("notify", 1)), canceled), 11*time.Minute),
		"a=Succeeded b=Canceled notify=Failed", nil)
	if f := d.Finish; f == nil || f.Phase != aiasv1alpha1.RunCanceled || f.Message != "canceled by spec.cancel; finally step notify failed: finallyTimeout of 10m0s exceeded" {
		t.Errorf("finish %+v", d.Finish)
	}
}
