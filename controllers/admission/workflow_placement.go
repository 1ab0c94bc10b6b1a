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
	var out []string
	check := func(field string, p *aiasv1alpha1.PodPlacement) {
		if p == nil {
			return
		}
		if rc := p.RuntimeClassName; rc != nil && l.AllowedRuntimeClasses != nil && !slices.Contains(l.AllowedRuntimeClasses, *rc) {
			out = append(out, fmt.Sprintf("%s.runtimeClassName: runtime class %q is not allowed by plan %q (spec.limits.allowedRuntimeClasses: %s)",
				field, *rc, plan, strings.Join(l.AllowedRuntimeClasses, ", ")))
		}
		if pc := p.PriorityClassName; pc != "" && l.AllowedPriorityClasses != nil && !slices.Contains(l.AllowedPriorityClasses, pc) {
			out = append(out, fmt.Sprintf("%s.priorityClassName: priority class %q is not allowed by plan %q (spec.limits.allowedPriorityClasses: %s)",
				field, pc, plan, strings.Join(l.AllowedPriorityClasses, ", ")))
		}
		if keys := l.AllowedNodeSelectorKeys; keys != nil {
			for k := range p.NodeSelector {
				if !slices.Contains(keys, k) {
					out = append(out, fmt.Sprintf("%s.nodeSelector: node label %q is not allowed by plan %q (spec.limits.allowedNodeSelectorKeys: %s)", field, k, plan, strings.Join(keys, ", ")))
				}
			}
			if a := p.Affinity; a != nil && a.NodeAffinity != nil {
				var terms []string
				if r := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
					for _, t := range r.NodeSelectorTerms {
						for _, e := range append(t.MatchExpressions, t.MatchFields...) {
							terms = append(terms, e.Key)
						}
					}
				}
				for _, pt := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
					for _, e := range append(pt.Preference.MatchExpressions, pt.Preference.MatchFields...) {
						terms = append(terms, e.Key)
					}
				}
				for _, k := range terms {
					if !slices.Contains(keys, k) {
						out = append(out, fmt.Sprintf("%s.affinity.nodeAffinity: node label %q is not allowed by plan %q (spec.limits.allowedNodeSelectorKeys: %s)", field, k, plan, strings.Join(keys, ", ")))
					}
				}
			}
		}
		if keys := l.AllowedTolerationKeys; keys != nil {
			for i, t := range p.Tolerations {
				if !slices.Contains(keys, t.Key) {
					what := fmt.Sprintf("taint key %q", t.Key)
					if t.Key == "" {
						what = "a toleration without a key (it tolerates every taint)"
					}
					out = append(out, fmt.Sprintf("%s.tolerations[%d]: %s is not allowed by plan %q (spec.limits.allowedTolerationKeys: %s)", field, i, what, plan, strings.Join(keys, ", ")))
				}
			}
		}
	}
	check("spec.podTemplate", wf.Spec.PodTemplate)
	for _, list := range []struct {
		field string
		steps []aiasv1alpha1.WorkflowStep
	}{{"spec.steps", wf.Spec.Steps}, {"spec.finally", wf.Spec.Finally}} {
		for i := range list.steps {
			check(fmt.Sprintf("%s[%d]", list.field, i), &list.steps[i].PodPlacement)
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
