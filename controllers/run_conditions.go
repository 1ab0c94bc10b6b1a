package controllers

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
)

// A Run has one condition, Ready (aiasv1alpha1.RunConditionReady). Each state the Run
// controller reports has one helper below; setRunReady is the one place that writes it.

// setRunQueued: the Run waits for a concurrency slot.
func setRunQueued(run *aiasv1alpha1.Run, msg string) {
	setRunReady(run, metav1.ConditionUnknown, aiasv1alpha1.RunReasonQueued, msg)
}

// setRunRunning: the Run was admitted and its steps run.
func setRunRunning(run *aiasv1alpha1.Run) {
	setRunReady(run, metav1.ConditionUnknown, aiasv1alpha1.RunReasonRunning, "steps are running")
}

// setRunAwaitingWorkflow: the Run's Workflow is missing, and the Run waits briefly for it.
func setRunAwaitingWorkflow(run *aiasv1alpha1.Run, msg string) {
	setRunReady(run, metav1.ConditionUnknown, aiasv1alpha1.RunReasonWorkflowNotFound, msg)
}

// setRunEnded: the Run ended as f says; Ready is True only when it succeeded.
func setRunEnded(run *aiasv1alpha1.Run, f runengine.Finish) {
	status := metav1.ConditionFalse
	if f.Phase == aiasv1alpha1.RunSucceeded {
		status = metav1.ConditionTrue
	}
	setRunReady(run, status, f.Reason, f.Message)
}

// setRunReady sets the Ready condition through the setter every kind shares (its message
// bounded, its transition time in whole seconds).
func setRunReady(run *aiasv1alpha1.Run, status metav1.ConditionStatus, reason, message string) {
	setCondition(run, aiasv1alpha1.RunConditionReady, status, reason, message, time.Now())
}

// readyMessage is the message of the Run's Ready condition.
func readyMessage(run *aiasv1alpha1.Run) string {
	if c := meta.FindStatusCondition(run.Status.Conditions, aiasv1alpha1.RunConditionReady); c != nil {
		return c.Message
	}
	return ""
}
