package conditions_test

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/conditions"
)

// Every kind whose controller sets conditions is a Setter.
var (
	_ conditions.Setter = &aiasv1alpha1.Tenant{}
	_ conditions.Setter = &aiasv1alpha1.Workflow{}
	_ conditions.Setter = &aiasv1alpha1.WebhookEndpoint{}
	_ conditions.Setter = &aiasv1alpha1.Schedule{}
	_ conditions.Setter = &aiasv1alpha1.Plan{}
)

var t0 = time.Date(2026, 12, 6, 18, 0, 0, 123456789, time.UTC)

func ready(obj conditions.Setter) *metav1.Condition {
	return meta.FindStatusCondition(obj.GetConditions(), aiasv1alpha1.ConditionReady)
}

func TestSetRecordsGenerationAndSecondPrecisionTime(t *testing.T) {
	wf := &aiasv1alpha1.Workflow{}
	wf.Generation = 3
	if !conditions.Set(wf, aiasv1alpha1.ConditionReady, metav1.ConditionFalse, aiasv1alpha1.ReasonSecretNotFound, "no db", t0) {
		t.Fatal("a first condition is a change")
	}
	c := ready(wf)
	want := metav1.Condition{
		Type: aiasv1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: aiasv1alpha1.ReasonSecretNotFound,
		Message: "no db", ObservedGeneration: 3, LastTransitionTime: metav1.NewTime(t0.Truncate(time.Second)),
	}
	if c == nil || !equality.Semantic.DeepEqual(*c, want) {
		t.Fatalf("condition = %+v, want %+v", c, want)
	}
}

func TestSetAgainChangesNothing(t *testing.T) {
	ep := &aiasv1alpha1.WebhookEndpoint{}
	conditions.Set(ep, aiasv1alpha1.ConditionReady, metav1.ConditionTrue, aiasv1alpha1.ReasonReady, "ok", t0)
	before := ep.DeepCopy()
	if conditions.Set(ep, aiasv1alpha1.ConditionReady, metav1.ConditionTrue, aiasv1alpha1.ReasonReady, "ok", t0.Add(time.Hour)) {
		t.Error("setting the same condition reported a change")
	}
	if !equality.Semantic.DeepEqual(before, ep) {
		t.Errorf("setting the same condition changed the object:\n%+v\n%+v", before.Status.Conditions, ep.Status.Conditions)
	}
}

func TestTransitionTimeMovesOnlyWithStatus(t *testing.T) {
	sc := &aiasv1alpha1.Schedule{}
	conditions.Set(sc, aiasv1alpha1.ConditionReady, metav1.ConditionTrue, aiasv1alpha1.ReasonScheduled, "next at 1", t0)

	// Same status, other reason and message: changed, but the transition time stays.
	if !conditions.Set(sc, aiasv1alpha1.ConditionReady, metav1.ConditionTrue, aiasv1alpha1.ReasonSuspended, "suspended", t0.Add(time.Minute)) {
		t.Error("a new reason is a change")
	}
	if c := ready(sc); c.Reason != aiasv1alpha1.ReasonSuspended || c.Message != "suspended" || !c.LastTransitionTime.Time.Equal(t0.Truncate(time.Second)) {
		t.Errorf("after a reason change: %+v", c)
	}

	// A new generation alone is a change too: the condition says which spec it describes.
	sc.Generation = 2
	if !conditions.Set(sc, aiasv1alpha1.ConditionReady, metav1.ConditionTrue, aiasv1alpha1.ReasonSuspended, "suspended", t0.Add(2*time.Minute)) {
		t.Error("a new generation is a change")
	}
	if c := ready(sc); c.ObservedGeneration != 2 {
		t.Errorf("observedGeneration = %d, want 2", c.ObservedGeneration)
	}

	// Another status: the transition time moves.
	later := t0.Add(time.Hour)
	conditions.Set(sc, aiasv1alpha1.ConditionReady, metav1.ConditionFalse, aiasv1alpha1.ReasonInvalidSchedule, "bad", later)
	if c := ready(sc); !c.LastTransitionTime.Time.Equal(later.Truncate(time.Second)) {
		t.Errorf("transition time = %v, want %v", c.LastTransitionTime, later.Truncate(time.Second))
	}
}

func TestConditionsOfOneObjectAreIndependent(t *testing.T) {
	tn := &aiasv1alpha1.Tenant{}
	conditions.Set(tn, aiasv1alpha1.ConditionReady, metav1.ConditionTrue, aiasv1alpha1.ReasonReady, "ok", t0)
	conditions.Set(tn, aiasv1alpha1.ConditionWithinLimits, metav1.ConditionFalse, aiasv1alpha1.ReasonOverLimits, "3 Workflows", t0)
	if n := len(tn.Status.Conditions); n != 2 {
		t.Fatalf("%d conditions, want 2", n)
	}
	if !conditions.Remove(tn, aiasv1alpha1.ConditionWithinLimits) {
		t.Error("Remove found no WithinLimits")
	}
	if conditions.Remove(tn, aiasv1alpha1.ConditionWithinLimits) {
		t.Error("Remove found WithinLimits twice")
	}
	if c := ready(tn); len(tn.Status.Conditions) != 1 || c == nil || c.Reason != aiasv1alpha1.ReasonReady {
		t.Errorf("after removing WithinLimits: %+v", tn.Status.Conditions)
	}
}
