package runengine

import (
	"testing"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

func TestDecideChildWorkflow(t *testing.T) {
	child := aiasv1alpha1.WorkflowStep{Name: "b", DependsOn: []string{"a"}, WorkflowRef: &aiasv1alpha1.StepWorkflowRef{Name: "shared"}}
	spec := []aiasv1alpha1.WorkflowStep{step("a", []string{}...), child, step("c", "b")}
	running := aiasv1alpha1.StepStatus{Name: "b", Phase: aiasv1alpha1.StepRunning, Attempts: 1, ChildRun: "r-b"}
	with := func(in Input, c ChildState) Input { in.Children = map[string]ChildState{"b": c}; return in }
	deep := func(in Input) Input { in.Depth = aiasv1alpha1.MaxWorkflowDepth; return in }
	for _, tc := range []struct {
		name       string
		in         Input
		wantPhases string
		wantStarts []string
		children   int
		wantMsg    string
	}{
		{name: "the step starts its child once its dependency succeeded",
			in:         input(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0)}, succeeded("a", 1, t0)),
			wantPhases: "a=Succeeded b=Running c=Pending", children: 1},
		{name: "at the depth limit it fails instead, naming it",
			in:         deep(input(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0)})),
			wantPhases: "a=Succeeded b=Failed c=Skipped", wantMsg: "runs nest through workflowRef steps at most 4 deep, and this Run is at depth 4 (a cycle of Workflows?)"},
		{name: "a running child: nothing to do",
			in:         with(input(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), running, st("c", aiasv1alpha1.StepPending, 0)}), ChildState{Name: "r-b", Phase: aiasv1alpha1.RunRunning}),
			wantPhases: "a=Succeeded b=Running c=Pending"},
		{name: "a succeeded child: the step succeeds with its result and the next step starts",
			in: with(input(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), running, st("c", aiasv1alpha1.StepPending, 0)}),
				ChildState{Name: "r-b", Phase: aiasv1alpha1.RunSucceeded, OutputDigest: "sha256:child"}),
			wantPhases: "a=Succeeded b=Succeeded c=Running", wantStarts: []string{"c"}, wantMsg: "child run r-b succeeded"},
		{name: "a failed child fails the step with its message",
			in: with(input(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), running, st("c", aiasv1alpha1.StepPending, 0)}),
				ChildState{Name: "r-b", Phase: aiasv1alpha1.RunFailed, Message: "step x failed: boom"}),
			wantPhases: "a=Succeeded b=Failed c=Skipped", wantMsg: "child run r-b failed: step x failed: boom"},
		{name: "a deleted child fails the step",
			in:         with(input(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), running, st("c", aiasv1alpha1.StepPending, 0)}), ChildState{Name: "r-b", Gone: true}),
			wantPhases: "a=Succeeded b=Failed c=Skipped", wantMsg: "child run r-b was deleted before it ended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := decideAndCheck(t, tc.in, tc.wantPhases, tc.wantStarts)
			if len(d.StartChildren) != tc.children {
				t.Errorf("children to start %v, want %d", d.StartChildren, tc.children)
			}
			if tc.wantMsg != "" && d.Steps[1].Message != tc.wantMsg {
				t.Errorf("message %q, want %q", d.Steps[1].Message, tc.wantMsg)
			}
			if tc.wantMsg == "child run r-b succeeded" && d.Steps[1].OutputDigest != "sha256:child" {
				t.Errorf("digest %q, want the child's result", d.Steps[1].OutputDigest)
			}
		})
	}
}
