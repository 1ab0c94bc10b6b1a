package runengine

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

func TestDecideApprovalGate(t *testing.T) {
	gate := aiasv1alpha1.WorkflowStep{Name: "prod", DependsOn: []string{"build"},
		Approval: &aiasv1alpha1.ApprovalGate{Message: "deploy 1.2.3?", Timeout: &metav1.Duration{Duration: time.Hour}}}
	approveOnTimeout := gate
	approveOnTimeout.Approval = &aiasv1alpha1.ApprovalGate{Timeout: &metav1.Duration{Duration: time.Hour}, OnTimeout: "Approve"}
	steps := func(g aiasv1alpha1.WorkflowStep) []aiasv1alpha1.WorkflowStep {
		return []aiasv1alpha1.WorkflowStep{step("build", []string{}...), g, step("deploy", "prod")}
	}
	waiting := func(started time.Time) aiasv1alpha1.StepStatus {
		return aiasv1alpha1.StepStatus{Name: "prod", Phase: aiasv1alpha1.StepWaiting, StartTime: mtime(started)}
	}
	decided := func(in Input, a aiasv1alpha1.ApprovalStatus) Input {
		in.Approvals = map[string]aiasv1alpha1.ApprovalStatus{"prod": a}
		return in
	}
	at := metav1.NewTime(t0.Add(30 * time.Second))
	cases := []struct {
		name       string
		in         Input
		wantPhases string
		wantStarts []string
		wantMsg    string
		wantRun    aiasv1alpha1.RunPhase
		wantFinish string
	}{{
		name:       "the gate opens once its dependency succeeded: no Job, the Run waits",
		in:         input(steps(gate), []aiasv1alpha1.StepStatus{st("build", aiasv1alpha1.StepRunning, 1), st("prod", aiasv1alpha1.StepPending, 0), st("deploy", aiasv1alpha1.StepPending, 0)}, succeeded("build", 1, t0)),
		wantPhases: "build=Succeeded prod=Waiting deploy=Pending",
		wantMsg:    "waiting for approval: deploy 1.2.3?",
		wantRun:    aiasv1alpha1.RunWaiting,
	}, {
		name: "approved: the gate succeeds and the next step starts in the same pass",
		in: decided(input(steps(gate), []aiasv1alpha1.StepStatus{st("build", aiasv1alpha1.StepSucceeded, 1), waiting(t0), st("deploy", aiasv1alpha1.StepPending, 0)}),
			aiasv1alpha1.ApprovalStatus{Decision: "Approved", By: "alice", Comment: "LGTM", Time: at}),
		wantPhases: "build=Succeeded prod=Succeeded deploy=Running",
		wantStarts: []string{"deploy"},
		wantMsg:    "approved by alice: LGTM",
		wantRun:    aiasv1alpha1.RunRunning,
	}, {
		name: "rejected: the gate fails, and the Run with it",
		in: decided(input(steps(gate), []aiasv1alpha1.StepStatus{st("build", aiasv1alpha1.StepSucceeded, 1), waiting(t0), st("deploy", aiasv1alpha1.StepPending, 0)}),
			aiasv1alpha1.ApprovalStatus{Decision: "Rejected", By: "bob", Comment: "not on a Friday", Time: at}),
		wantPhases: "build=Succeeded prod=Failed deploy=Skipped",
		wantMsg:    "rejected by bob: not on a Friday",
		wantRun:    aiasv1alpha1.RunRunning,
		wantFinish: "step prod failed: rejected by bob: not on a Friday",
	}, {
		name:       "still waiting before its timeout",
		in:         input(steps(gate), []aiasv1alpha1.StepStatus{st("build", aiasv1alpha1.StepSucceeded, 1), waiting(t0), st("deploy", aiasv1alpha1.StepPending, 0)}),
		wantPhases: "build=Succeeded prod=Waiting deploy=Pending",
		wantRun:    aiasv1alpha1.RunWaiting,
	}, {
		name:       "timed out: rejected by default",
		in:         input(steps(gate), []aiasv1alpha1.StepStatus{st("build", aiasv1alpha1.StepSucceeded, 1), waiting(t0.Add(-2 * time.Hour)), st("deploy", aiasv1alpha1.StepPending, 0)}),
		wantPhases: "build=Succeeded prod=Failed deploy=Skipped",
		wantMsg:    "rejected on timeout: no decision within 1h0m0s (onTimeout: Reject)",
		wantRun:    aiasv1alpha1.RunRunning,
		wantFinish: "step prod failed: rejected on timeout: no decision within 1h0m0s (onTimeout: Reject)",
	}, {
		name:       "timed out with onTimeout Approve: approved",
		in:         input(steps(approveOnTimeout), []aiasv1alpha1.StepStatus{st("build", aiasv1alpha1.StepSucceeded, 1), waiting(t0.Add(-2 * time.Hour)), st("deploy", aiasv1alpha1.StepPending, 0)}),
		wantPhases: "build=Succeeded prod=Succeeded deploy=Running",
		wantStarts: []string{"deploy"},
		wantMsg:    "approved on timeout: no decision within 1h0m0s (onTimeout: Approve)",
		wantRun:    aiasv1alpha1.RunRunning,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decideAndCheck(t, tc.in, tc.wantPhases, tc.wantStarts)
			if tc.wantMsg != "" && d.Steps[1].Message != tc.wantMsg {
				t.Errorf("gate message %q, want %q", d.Steps[1].Message, tc.wantMsg)
			}
			if got := RunPhaseOf(d.Steps); got != tc.wantRun {
				t.Errorf("run phase %s, want %s", got, tc.wantRun)
			}
			if (d.Finish == nil) != (tc.wantFinish == "") || d.Finish != nil && d.Finish.Message != tc.wantFinish {
				t.Errorf("finish %+v, want %q", d.Finish, tc.wantFinish)
			}
			if st := d.Steps[1]; st.Phase == aiasv1alpha1.StepSucceeded || st.Phase == aiasv1alpha1.StepFailed {
				if st.Approval == nil || st.CompletionTime == nil {
					t.Errorf("decided gate without its record: %+v", st)
				}
			}
		})
	}
}

func TestMayDecide(t *testing.T) {
	open := &aiasv1alpha1.ApprovalGate{}
	narrowed := &aiasv1alpha1.ApprovalGate{Approvers: []aiasv1alpha1.Approver{{Kind: "User", Name: "alice"}, {Kind: "Group", Name: "sre"}}}
	for _, tc := range []struct {
		g      *aiasv1alpha1.ApprovalGate
		user   string
		groups []string
		want   bool
	}{
		{open, "anyone", nil, true},
		{narrowed, "alice", nil, true},
		{narrowed, "bob", []string{"dev", "sre"}, true},
		{narrowed, "bob", []string{"dev"}, false},
		{narrowed, "sre", nil, false}, // a user named like a group is not the group
	} {
		if got := MayDecide(tc.g, tc.user, tc.groups); got != tc.want {
			t.Errorf("MayDecide(%+v, %s, %v) = %v", tc.g.Approvers, tc.user, tc.groups, got)
		}
	}
}
