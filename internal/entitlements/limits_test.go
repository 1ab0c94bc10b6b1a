package entitlements

import (
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// A Tenant whose plan does not exist gets the most restrictive limits, not none: on main,
// Limits() returned the zero PlanLimits (every field nil, i.e. unlimited), so a typo in
// spec.plan or a default plan never created let the Tenant's Runs and deliveries pass
// every quota. Every quota field of PlanLimits is checked by reflection, so a limit added
// later must be given a value here too.
func TestLimitsOfMissingPlanAllowNothing(t *testing.T) {
	e := &Entitlement{Tenant: &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme"}}, PlanName: "gold"}
	if !e.PlanMissing() {
		t.Fatal("PlanMissing() = false for an Entitlement without a Plan")
	}
	l := reflect.ValueOf(e.Limits())
	// Shape limits, not quotas: nothing can be created or run on a missing plan anyway.
	// The Allowed* placement lists likewise: no Workflow is admitted on a missing plan.
	shape := map[string]bool{"StepsPerWorkflow": true, "MaxStepTimeout": true,
		"AllowedRuntimeClasses": true, "AllowedPriorityClasses": true, "AllowedNodeSelectorKeys": true, "AllowedTolerationKeys": true}
	for i := 0; i < l.NumField(); i++ {
		name, f := l.Type().Field(i).Name, l.Field(i)
		if shape[name] {
			if !f.IsNil() {
				t.Errorf("%s = %v, want unset", name, f.Elem())
			}
			continue
		}
		if f.IsNil() {
			t.Errorf("%s is unset (unlimited) on a missing plan, want zero", name)
			continue
		}
		switch v := f.Interface().(type) {
		case *int32:
			if *v != 0 {
				t.Errorf("%s = %d, want 0", name, *v)
			}
		case *int64:
			if *v != 0 {
				t.Errorf("%s = %d, want 0", name, *v)
			}
		case *metav1.Duration:
			if v.Duration != 0 {
				t.Errorf("%s = %s, want 0s", name, v.Duration)
			}
		default:
			t.Errorf("%s has type %T: decide its value on a missing plan", name, v)
		}
	}
	msg := e.MissingPlanMessage("no Run can start")
	for _, want := range []string{"acme", `plan "gold" does not exist`, "no Run can start"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q does not say %q", msg, want)
		}
	}
	if !strings.Contains(e.Describe(), "does not exist") {
		t.Errorf("Describe() = %q, want it to say the plan does not exist", e.Describe())
	}

	// A namespace without a Tenant (nil Entitlement) stays unlimited, and an existing
	// Plan's limits are its own.
	var none *Entitlement
	if !reflect.DeepEqual(none.Limits(), aiasv1alpha1.PlanLimits{}) || none.PlanMissing() {
		t.Errorf("nil Entitlement: Limits() = %+v, PlanMissing %v; want no limits", none.Limits(), none.PlanMissing())
	}
	five := int32(5)
	e.Plan = &aiasv1alpha1.Plan{Spec: aiasv1alpha1.PlanSpec{Limits: aiasv1alpha1.PlanLimits{Workflows: &five}}}
	if got := e.Limits(); got.Workflows == nil || *got.Workflows != 5 || got.RunsPerMonth != nil {
		t.Errorf("existing plan: Limits() = %+v, want the Plan's", got)
	}
}
