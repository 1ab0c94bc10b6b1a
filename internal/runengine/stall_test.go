package runengine

import (
	"testing"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// TestStalledAttempt: what a running attempt's Pod waits for becomes the step's message
// (and clears once it waits for nothing), and the Run is woken at the wait's deadline.
func TestStalledAttempt(t *testing.T) {
	now := t0.Add(time.Minute)
	deadline := now.Add(90 * time.Second)
	waitingForNode := "waiting for a node: 0/3 nodes are available: 3 Insufficient cpu."
	cases := []struct {
		name        string
		attempt     Attempt
		wantMessage string
		wantRequeue time.Duration
	}{
		{"stalled until a deadline", Stalled("a", 1, "a-job", t0, waitingForNode, deadline), waitingForNode, 90 * time.Second},
		{"running, nothing awaited", running("a", 1), "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status := st("a", aiasv1alpha1.StepRunning, 1)
			status.Message = "stale: waiting for a node"
			in := input([]aiasv1alpha1.WorkflowStep{step("a", []string{}...)}, []aiasv1alpha1.StepStatus{status}, tc.attempt)
			in.Now = now
			d := Decide(in)
			if got := d.Steps[0]; got.Phase != aiasv1alpha1.StepRunning || got.Message != tc.wantMessage {
				t.Errorf("step %s %q; want Running %q", got.Phase, got.Message, tc.wantMessage)
			}
			if d.RequeueAfter != tc.wantRequeue {
				t.Errorf("requeue after %v; want %v", d.RequeueAfter, tc.wantRequeue)
			}
		})
	}
}
