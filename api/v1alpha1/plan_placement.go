package v1alpha1

import (
	"fmt"
	"slices"
	"strings"
)

// PlacementViolations lists, as "field: why", what of p (the placement at field, e.g.
// spec.steps[0]) the plan named plan, whose limits are l, does not allow: runtime and
// priority classes, node label keys (nodeSelector and node affinity expressions) and
// toleration keys outside its allowed lists. With them a tenant could place its steps on
// another tenant's dedicated nodes or runtimes. Admission checks a Workflow with it, the
// Run controller each attempt's Pod (the plan may have changed since).
func (l PlanLimits) PlacementViolations(plan, field string, p *PodPlacement) []string {
	var out []string
	if p == nil {
		return nil
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
	return out
}
