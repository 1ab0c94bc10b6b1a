package runengine

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// A workflowRef step runs another Workflow as a child Run: once its dependencies and its
// when let it start it is Running and the caller creates the child (Decision.StartChildren;
// its name is deterministic, so a repeated create finds the first); from then on the
// step follows the child as the caller observes it (Input.Children) and ends as it does,
// with the result of the child's last step.

// ChildState is what the caller saw of a workflowRef step's child Run.
type ChildState struct {
	// Name of the child Run.
	Name string
	// Gone: the child does not exist (it was deleted before it ended).
	Gone bool
	// Phase and Message are the child's.
	Phase   aiasv1alpha1.RunPhase
	Message string
	// OutputDigest is the result the step takes from a Succeeded child (its last step's).
	OutputDigest string
}

// startChild starts step i's child Run, unless Runs already nest as deep as they may.
func (p *pass) startChild(i int, st *aiasv1alpha1.StepStatus) {
	if p.in.Depth >= aiasv1alpha1.MaxWorkflowDepth {
		p.failUnstarted(st, fmt.Sprintf("runs nest through workflowRef steps at most %d deep, and this Run is at depth %d (a cycle of Workflows?)",
			aiasv1alpha1.MaxWorkflowDepth, p.in.Depth))
		return
	}
	t := metav1.NewTime(p.in.Now)
	st.Phase, st.Attempts, st.StartTime, st.Message = aiasv1alpha1.StepRunning, 1, &t, ""
	p.d.StartChildren = append(p.d.StartChildren, i)
}

// followChild ends a workflowRef step as its child ended.
func (p *pass) followChild(step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus) {
	c, ok := p.in.Children[step.Name]
	if !ok {
		return // not observed yet: its end wakes the Run
	}
	t := metav1.NewTime(p.in.Now)
	fail := func(msg string) {
		st.Phase, st.CompletionTime, st.Message = aiasv1alpha1.StepFailed, &t, msg
		p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeWarning, Reason: aiasv1alpha1.RunEventStepFailed,
			Message: fmt.Sprintf("Step %s failed: %s", st.Name, msg)})
	}
	switch {
	case c.Gone:
		fail(fmt.Sprintf("child run %s was deleted before it ended", c.Name))
	case c.Phase == aiasv1alpha1.RunSucceeded:
		st.Phase, st.CompletionTime, st.ExitCode, st.OutputDigest = aiasv1alpha1.StepSucceeded, &t, ptrInt32(0), c.OutputDigest
		st.Message = "child run " + c.Name + " succeeded"
		p.d.RefreshArtifacts = true
	case c.Phase.Finished():
		fail(fmt.Sprintf("child run %s %s: %s", c.Name, lowerRunPhase(c.Phase), c.Message))
	}
}

func lowerRunPhase(p aiasv1alpha1.RunPhase) string {
	switch p {
	case aiasv1alpha1.RunFailed:
		return "failed"
	case aiasv1alpha1.RunCanceled:
		return "was canceled"
	case aiasv1alpha1.RunRejected:
		return "was rejected"
	}
	return string(p)
}
