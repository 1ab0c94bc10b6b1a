package controllers

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/store"
)

// Approval gates hold no Pod and, while nothing else of their Run runs, no concurrency
// slot: the Run is Waiting, its slot goes back when it starts waiting and is claimed
// again (claimAfterWaiting) before the first step after the decision starts. Decisions
// are recorded by the user API in the store (the first on a gate wins); this controller
// copies them into the step's status (runengine applies them).

// gatesOpen reports a gate of the spec that has not been decided yet.
func gatesOpen(spec *aiasv1alpha1.WorkflowSpec, steps []aiasv1alpha1.StepStatus) bool {
	for i := range spec.Steps {
		if spec.Steps[i].Approval != nil && i < len(steps) && !runengine.StepFinished(steps[i].Phase) {
			return true
		}
	}
	return false
}

// approvals are the decisions the store holds on the Run's gates.
func (r *RunReconciler) approvals(ctx context.Context, run *aiasv1alpha1.Run) (map[string]aiasv1alpha1.ApprovalStatus, error) {
	recorded, err := r.Store.Approvals(ctx, string(run.UID))
	if err != nil {
		return nil, fmt.Errorf("reading the run's approvals: %w", err)
	}
	out := make(map[string]aiasv1alpha1.ApprovalStatus, len(recorded))
	for step, a := range recorded {
		out[step] = approvalStatus(a)
	}
	return out, nil
}

func approvalStatus(a store.Approval) aiasv1alpha1.ApprovalStatus {
	return aiasv1alpha1.ApprovalStatus{Decision: a.Decision, By: a.By, Comment: a.Comment, Time: metav1.NewTime(a.DecidedAt)}
}

// setRunningPhase makes a running Run Waiting while only gates wait (its slot goes back)
// and Running otherwise.
func (r *RunReconciler) setRunningPhase(ctx context.Context, s *runScope) error {
	run := s.run
	if run.Status.Phase != aiasv1alpha1.RunRunning && run.Status.Phase != aiasv1alpha1.RunWaiting {
		return nil
	}
	phase := runengine.RunPhaseOf(run.Status.Steps)
	if phase == run.Status.Phase {
		return nil
	}
	if phase == aiasv1alpha1.RunWaiting {
		// Nothing of the Run runs: its slot can start another Run meanwhile.
		if err := r.Store.ReleaseSlot(ctx, string(run.UID)); err != nil {
			return fmt.Errorf("releasing the concurrency slot: %w", err)
		}
		run.Status.Message = "waiting for approval of step " + strings.Join(waitingGates(run.Status.Steps), ", ")
	} else if strings.HasPrefix(run.Status.Message, "waiting for") {
		run.Status.Message = ""
	}
	run.Status.Phase = phase
	return nil
}

func waitingGates(steps []aiasv1alpha1.StepStatus) []string {
	var names []string
	for _, st := range steps {
		if st.Phase == aiasv1alpha1.StepWaiting {
			names = append(names, st.Name)
		}
	}
	return names
}

// claimAfterWaiting claims a concurrency slot again for a Run that waited at a gate and
// is about to start steps: held says it may. A Run that cannot have one stays Waiting,
// with a message, and is looked at again after QueueRecheck (a Run that finishes wakes
// it sooner).
func (r *RunReconciler) claimAfterWaiting(ctx context.Context, s *runScope) (held bool, err error) {
	run := s.run
	tp, err := r.planOf(ctx, run.Namespace)
	if err != nil {
		return false, err
	}
	_, limit := concurrencyOf(s.spec)
	nsMax := concurrentLimit(tp)
	if l := tp.Limits().ConcurrentRuns; l != nil && *l == 0 {
		nsMax = -1
	}
	if nsMax >= 0 {
		held, err = r.Store.ClaimSlot(ctx, store.SlotClaim{RunUID: string(run.UID), Namespace: run.Namespace, Workflow: run.Spec.WorkflowRef.Name,
			Key: run.Status.ConcurrencyKey, Max: limit, NamespaceMax: nsMax})
		if err != nil {
			return false, fmt.Errorf("claiming a concurrency slot: %w", err)
		}
	}
	if !held {
		msg := "approved; waiting for a concurrency slot to go on"
		if run.Status.Message != msg {
			s.event(corev1.EventTypeNormal, aiasv1alpha1.RunEventQueued, "%s", msg)
		}
		run.Status.Message = msg
	}
	return held, nil
}

// approvalDecided passes the updates that set aias.dev/approval-decided to a new value:
// a decision was recorded (the Run's generation does not change for an annotation).
var approvalDecided = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		return e.ObjectNew.GetAnnotations()[aiasv1alpha1.AnnotationApprovalDecided] != e.ObjectOld.GetAnnotations()[aiasv1alpha1.AnnotationApprovalDecided]
	},
}
