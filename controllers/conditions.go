package controllers

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/conditions"
)

// Conditions are set through one setter per kind and condition type, so that a reason
// cannot land on another kind's condition by mistake; all of them go through
// setCondition. The types and reasons are API (api/v1alpha1/conditions.go).

// maxConditionMessage stays well below the 32 KiB the API allows, and within what an
// event note may carry, since a Ready condition's message becomes one.
const maxConditionMessage = maxEventNote

// setCondition sets one condition of obj (internal/conditions), its message cut to
// maxConditionMessage.
func setCondition(obj conditions.Setter, condType string, status metav1.ConditionStatus, reason, message string, now time.Time) {
	conditions.Set(obj, condType, status, reason, shortenNote(message, maxConditionMessage), now)
}

// setTenantReady sets the Tenant's Ready condition (TenantReconciler).
func setTenantReady(t *aiasv1alpha1.Tenant, status metav1.ConditionStatus, reason, message string, now time.Time) {
	setCondition(t, aiasv1alpha1.ConditionReady, status, reason, message, now)
}

// setTenantWithinLimits sets the Tenant's WithinLimits condition (TenantUsageReconciler).
func setTenantWithinLimits(t *aiasv1alpha1.Tenant, status metav1.ConditionStatus, reason, message string, now time.Time) {
	setCondition(t, aiasv1alpha1.ConditionWithinLimits, status, reason, message, now)
}

// setWorkflowReady sets the Workflow's Ready condition (WorkflowReconciler).
func setWorkflowReady(wf *aiasv1alpha1.Workflow, status metav1.ConditionStatus, reason, message string, now time.Time) {
	setCondition(wf, aiasv1alpha1.ConditionReady, status, reason, message, now)
}

// setEndpointReady sets the WebhookEndpoint's Ready condition (WebhookEndpointReconciler).
func setEndpointReady(ep *aiasv1alpha1.WebhookEndpoint, status metav1.ConditionStatus, reason, message string, now time.Time) {
	setCondition(ep, aiasv1alpha1.ConditionReady, status, reason, message, now)
}

// setScheduleReady sets the Schedule's Ready condition (ScheduleReconciler).
func setScheduleReady(sc *aiasv1alpha1.Schedule, status metav1.ConditionStatus, reason, message string, now time.Time) {
	setCondition(sc, aiasv1alpha1.ConditionReady, status, reason, message, now)
}
