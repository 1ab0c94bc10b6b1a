package controllers

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Each kind's setter writes its own condition type, and every message fits an event note.
func TestConditionSetters(t *testing.T) {
	now := time.Date(2026, 12, 6, 18, 0, 0, 0, time.UTC)
	long := strings.Repeat("problem; ", 500)

	tn := &aiasv1alpha1.Tenant{}
	setTenantReady(tn, metav1.ConditionFalse, aiasv1alpha1.ReasonRoleBindingConflict, long, now)
	setTenantWithinLimits(tn, metav1.ConditionTrue, aiasv1alpha1.ReasonWithinLimits, "fits", now)
	if c := meta.FindStatusCondition(tn.Status.Conditions, aiasv1alpha1.ConditionReady); c == nil || len(c.Message) > maxConditionMessage || !strings.HasSuffix(c.Message, "...") {
		t.Errorf("Tenant Ready: %+v", c)
	}
	if c := meta.FindStatusCondition(tn.Status.Conditions, aiasv1alpha1.ConditionWithinLimits); c == nil || c.Reason != aiasv1alpha1.ReasonWithinLimits {
		t.Errorf("Tenant WithinLimits: %+v", c)
	}

	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Generation: 2}}
	setWorkflowReady(wf, metav1.ConditionTrue, aiasv1alpha1.ReasonReady, "ok", now)
	ep := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
	setEndpointReady(ep, metav1.ConditionFalse, aiasv1alpha1.ReasonWorkflowNotFound, "no wf", now)
	sc := &aiasv1alpha1.Schedule{ObjectMeta: metav1.ObjectMeta{Generation: 4}}
	setScheduleReady(sc, metav1.ConditionTrue, aiasv1alpha1.ReasonScheduled, "next", now)
	for _, o := range []struct {
		conds  []metav1.Condition
		gen    int64
		reason string
	}{{wf.Status.Conditions, 2, aiasv1alpha1.ReasonReady}, {ep.Status.Conditions, 3, aiasv1alpha1.ReasonWorkflowNotFound}, {sc.Status.Conditions, 4, aiasv1alpha1.ReasonScheduled}} {
		c := meta.FindStatusCondition(o.conds, aiasv1alpha1.ConditionReady)
		if len(o.conds) != 1 || c == nil || c.Reason != o.reason || c.ObservedGeneration != o.gen || !c.LastTransitionTime.Time.Equal(now) {
			t.Errorf("conditions %+v, want one Ready %s of generation %d", o.conds, o.reason, o.gen)
		}
	}
}
