package runengine

import (
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// An approval gate is a step without a container. Once its dependencies and its when let
// it start it is Waiting (no Job); it ends when a decision recorded through the user API
// reaches the engine (Input.Approvals), or when its timeout passes (its onTimeout
// decides). A decision is never made here: the engine only applies what a person (or
// the timeout) decided, so a replayed Run's gates wait again.

// openGate starts waiting at step i's gate, then applies a decision if one is there
// already (recorded before a crash, or as the Run started).
func (p *pass) openGate(i int, step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus) {
	t := metav1.NewTime(p.in.Now)
	st.Phase, st.StartTime = aiasv1alpha1.StepWaiting, &t
	st.Message = "waiting for approval"
	if m := step.Approval.Message; m != "" {
		st.Message += ": " + m
	}
	p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeNormal, Reason: aiasv1alpha1.RunEventApprovalWaiting,
		Message: fmt.Sprintf("Step %s waits for approval (%s)", st.Name, approversText(step.Approval))})
	p.gateWaits(step, st)
}

// gateWaits applies the gate's decision, or its timeout, or makes the pass wake at it.
func (p *pass) gateWaits(step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus) {
	if a, ok := p.in.Approvals[step.Name]; ok {
		p.decideGate(st, a)
		return
	}
	timeout := ApprovalTimeout(step.Approval)
	started := p.in.Now
	if st.StartTime != nil {
		started = st.StartTime.Time
	}
	deadline := started.Add(timeout)
	if p.in.Now.Before(deadline) {
		p.wakeAt(deadline)
		return
	}
	decision := aiasv1alpha1.ApprovalRejected
	if step.Approval.OnTimeout == aiasv1alpha1.ApprovalOnTimeoutApprove {
		decision = aiasv1alpha1.ApprovalApproved
	}
	p.decideGate(st, aiasv1alpha1.ApprovalStatus{Decision: decision, Time: metav1.NewTime(deadline), TimedOut: true,
		Comment: fmt.Sprintf("no decision within %s (onTimeout: %s)", timeout, onTimeout(step.Approval))})
}

// decideGate ends a gate as decided.
func (p *pass) decideGate(st *aiasv1alpha1.StepStatus, a aiasv1alpha1.ApprovalStatus) {
	st.Approval = a.DeepCopy()
	t := a.Time
	st.CompletionTime = &t
	who := "by " + a.By
	if a.TimedOut {
		who = "on timeout"
	}
	verb, eventType, reason := "approved", corev1.EventTypeNormal, aiasv1alpha1.RunEventApproved
	st.Phase = aiasv1alpha1.StepSucceeded
	if a.Decision != aiasv1alpha1.ApprovalApproved {
		verb, eventType, reason = "rejected", corev1.EventTypeWarning, aiasv1alpha1.RunEventRejected
		st.Phase = aiasv1alpha1.StepFailed
	}
	st.Message = verb + " " + who
	if a.Comment != "" {
		st.Message += ": " + a.Comment
	}
	p.d.Events = append(p.d.Events, Event{Type: eventType, Reason: reason, Message: fmt.Sprintf("Step %s %s", st.Name, st.Message)})
}

// ApprovalTimeout is how long a gate waits.
func ApprovalTimeout(g *aiasv1alpha1.ApprovalGate) time.Duration {
	if g != nil && g.Timeout != nil {
		return g.Timeout.Duration
	}
	return aiasv1alpha1.DefaultApprovalTimeout
}

func onTimeout(g *aiasv1alpha1.ApprovalGate) string {
	if g.OnTimeout == "" {
		return aiasv1alpha1.ApprovalOnTimeoutReject
	}
	return g.OnTimeout
}

func approversText(g *aiasv1alpha1.ApprovalGate) string {
	if len(g.Approvers) == 0 {
		return "anyone allowed to approve runs in the namespace"
	}
	s := ""
	for i, a := range g.Approvers {
		if i > 0 {
			s += ", "
		}
		s += a.Kind + " " + a.Name
	}
	return s
}

// MayDecide reports whether a user in groups may decide gate g (approvers narrowing;
// RBAC is checked apart, by the user API's SubjectAccessReview).
func MayDecide(g *aiasv1alpha1.ApprovalGate, user string, groups []string) bool {
	if len(g.Approvers) == 0 {
		return true
	}
	for _, a := range g.Approvers {
		switch a.Kind {
		case "User":
			if a.Name == user {
				return true
			}
		case "Group":
			for _, gr := range groups {
				if gr == a.Name {
					return true
				}
			}
		}
	}
	return false
}

// RunPhaseOf is a running Run's phase by its steps: Waiting when an approval gate waits
// and no step runs (no Job of its is active), else Running.
func RunPhaseOf(steps []aiasv1alpha1.StepStatus) aiasv1alpha1.RunPhase {
	waiting := false
	for _, st := range steps {
		switch st.Phase {
		case aiasv1alpha1.StepRunning, aiasv1alpha1.StepRetrying:
			return aiasv1alpha1.RunRunning
		case aiasv1alpha1.StepWaiting:
			waiting = true
		}
	}
	if waiting {
		return aiasv1alpha1.RunWaiting
	}
	return aiasv1alpha1.RunRunning
}
