package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
)

// decide records a decision on a gate as the user API does: in the store, then the
// annotation that wakes the Run controller.
func (h *rtHarness) decide(runName, step, decision, by, comment string) {
	h.t.Helper()
	run := h.get(runName)
	if _, err := testStore.RecordApproval(h.ctx, store.Approval{RunUID: string(run.UID), Namespace: h.ns, Step: step, Decision: decision, By: by, Comment: comment}); err != nil {
		h.t.Fatal(err)
	}
	patch := client.MergeFrom(run.DeepCopy())
	if run.Annotations == nil {
		run.Annotations = map[string]string{}
	}
	run.Annotations[aiasv1alpha1.AnnotationApprovalDecided] = step + "@" + time.Now().Format(time.RFC3339Nano)
	if err := h.c.Patch(h.ctx, run, patch); err != nil {
		h.t.Fatal(err)
	}
}

// Approval gates on the real control plane: a Run waits at its gate (phase Waiting, no
// Job, its concurrency slot given back, so the Workflow's next Run under Forbid starts
// meanwhile); approved, it goes on after claiming a slot again; rejected, it fails with
// the comment; a gate whose timeout passes is rejected. A manager restarted while a gate
// waits loses nothing.
func TestRunApprovalGates(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	gate := aiasv1alpha1.WorkflowStep{Name: "prod", Approval: &aiasv1alpha1.ApprovalGate{Message: "ship it?"}}
	spec := aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{shStep("build", "echo built", []string{}...), gate, shStep("deploy", "echo deployed")},
		Concurrency: &aiasv1alpha1.ConcurrencyPolicy{Policy: aiasv1alpha1.ConcurrencyForbid}}
	h.workflow("ship", spec)
	short := spec
	short.Steps = append([]aiasv1alpha1.WorkflowStep(nil), spec.Steps...)
	short.Steps[1] = aiasv1alpha1.WorkflowStep{Name: "prod", Approval: &aiasv1alpha1.ApprovalGate{Timeout: &metav1.Duration{Duration: 2 * time.Second}}}
	short.Concurrency = nil
	h.workflow("short", short)

	h.run("ship-1", "ship", "")
	run := h.waitPhaseWithin("ship-1", aiasv1alpha1.RunWaiting, time.Minute)
	if got := stepPhases(run); got != "build=Succeeded/1,prod=Waiting/0,deploy=Pending/0" {
		t.Errorf("waiting: steps %s", got)
	}
	if !strings.Contains(run.Status.Steps[1].Message, "ship it?") || !strings.Contains(run.Status.Message, "waiting for approval of step prod") {
		t.Errorf("waiting: messages %q / %q", run.Status.Steps[1].Message, run.Status.Message)
	}
	// Its slot went back: a second Run of the Forbid Workflow starts (and waits too).
	h.run("ship-2", "ship", "")
	h.waitPhaseWithin("ship-2", aiasv1alpha1.RunWaiting, time.Minute)

	h.stop()
	h.start()
	h.decide("ship-1", "prod", aiasv1alpha1.ApprovalApproved, "alice", "LGTM")
	h.decide("ship-2", "prod", aiasv1alpha1.ApprovalRejected, "bob", "not on a Friday")

	// Approved: ship-1 claims a slot again (ship-2 gave its own back) and deploys.
	run = h.waitPhaseWithin("ship-1", aiasv1alpha1.RunSucceeded, time.Minute)
	if a := run.Status.Steps[1].Approval; a == nil || a.By != "alice" || a.Decision != aiasv1alpha1.ApprovalApproved || a.Comment != "LGTM" {
		t.Errorf("approval record %+v", a)
	}
	if got := stepPhases(run); got != "build=Succeeded/1,prod=Succeeded/0,deploy=Succeeded/1" {
		t.Errorf("approved: steps %s", got)
	}
	run = h.waitPhaseWithin("ship-2", aiasv1alpha1.RunFailed, time.Minute)
	if run.Status.Message != "step prod failed: rejected by bob: not on a Friday" {
		t.Errorf("rejected: message %q", run.Status.Message)
	}
	for _, name := range []string{"ship-1", "ship-2"} {
		for job := range h.jobs(name) {
			if strings.Contains(job, "-prod-") {
				t.Errorf("%s: a gate made Job %s", name, job)
			}
		}
	}

	// A replay does not replay the decision: its gate waits again.
	replay := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "ship-1-replay", Namespace: h.ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "ship"}, ReplayOf: "ship-1",
			Trigger: &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerReplay}}}
	if err := h.c.Create(h.ctx, replay); err != nil {
		t.Fatal(err)
	}
	run = h.waitPhaseWithin("ship-1-replay", aiasv1alpha1.RunWaiting, time.Minute)
	if a := run.Status.Steps[1].Approval; a != nil || run.Status.Steps[1].Phase != aiasv1alpha1.StepWaiting {
		t.Errorf("replay's gate %+v, want it waiting again with no decision", run.Status.Steps[1])
	}

	h.run("short-1", "short", "")
	run = h.waitPhaseWithin("short-1", aiasv1alpha1.RunFailed, time.Minute)
	if a := run.Status.Steps[1].Approval; a == nil || !a.TimedOut || a.Decision != aiasv1alpha1.ApprovalRejected {
		t.Errorf("timed out: approval %+v", a)
	}
	reasons := strings.Join(h.eventReasons("ship-1"), ",")
	for _, want := range []string{aiasv1alpha1.RunEventApprovalWaiting, aiasv1alpha1.RunEventApproved} {
		if !strings.Contains(reasons, want) {
			t.Errorf("ship-1 events %s: no %s", reasons, want)
		}
	}
}
