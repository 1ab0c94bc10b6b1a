package admission

import (
	"fmt"
	"slices"
	"strings"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// placementViolations lists, as "field: why", what of wf's Pod placement its plan does
// not allow: runtime and priority classes, node label keys (nodeSelector and node
// affinity expressions) and toleration keys outside the plan's allowed lists. With them
// a tenant could place its steps on another tenant's dedicated nodes or runtimes.
func placementViolations(plan string, l aiasv1alpha1.PlanLimits, wf *aiasv1alpha1.Workflow) []string {
	out := l.PlacementViolations(plan, "spec.podTemplate", wf.Spec.PodTemplate)
	for _, list := range []struct {
		field string
		steps []aiasv1alpha1.WorkflowStep
	}{{"spec.steps", wf.Spec.Steps}, {"spec.finally", wf.Spec.Finally}} {
		for i := range list.steps {
			out = append(out, l.PlacementViolations(plan, fmt.Sprintf("%s[%d]", list.field, i), &list.steps[i].PodPlacement)...)
		}
	}
	slices.Sort(out)
	return out
}

// checkPlacement refuses a Workflow whose Pod placement its plan does not allow; an
// update is refused only for what the Workflow did not already ask for (a plan that
// became stricter never blocks editing the rest).
func checkPlacement(nl namespaceLimits, old, wf *aiasv1alpha1.Workflow) error {
	bad := placementViolations(nl.Plan, nl.Limits, wf)
	if len(bad) == 0 {
		return nil
	}
	if old != nil {
		had := placementViolations(nl.Plan, nl.Limits, old)
		bad = slices.DeleteFunc(bad, func(v string) bool { return slices.Contains(had, v) })
		if len(bad) == 0 {
			return nil
		}
	}
	return fmt.Errorf("%s", strings.Join(bad, "; "))
}
