package v1alpha1

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// PlacementViolations lists, as "field: why", what of p (the placement at field, e.g.
// spec.steps[0]) the plan named plan, whose limits are l, does not allow: runtime and
// priority classes, node label keys (nodeSelector and node affinity expressions) and
// toleration keys outside its allowed lists. With them a tenant could place its steps on
// another tenant's dedicated nodes or runtimes. Admission checks a Workflow with it, the
// Run controller each attempt's Pod (the plan may have changed since).
func (l PlanLimits) PlacementViolations(plan, field string, p *PodPlacement) []string {
	if p == nil {
		return nil
	}
	var out []string
	// refuse adds "<field><at>: <what> is not allowed by plan … (spec.limits.<limit>: …)"
	// when value is not among allowed (a nil list allows everything).
	refuse := func(at, what, limit string, allowed []string, value string) {
		if allowed != nil && !slices.Contains(allowed, value) {
			out = append(out, fmt.Sprintf("%s%s: %s is not allowed by plan %q (spec.limits.%s: %s)",
				field, at, what, plan, limit, strings.Join(allowed, ", ")))
		}
	}
	if rc := p.RuntimeClassName; rc != nil {
		refuse(".runtimeClassName", fmt.Sprintf("runtime class %q", *rc), "allowedRuntimeClasses", l.AllowedRuntimeClasses, *rc)
	}
	if pc := p.PriorityClassName; pc != "" {
		refuse(".priorityClassName", fmt.Sprintf("priority class %q", pc), "allowedPriorityClasses", l.AllowedPriorityClasses, pc)
	}
	for k := range p.NodeSelector {
		refuse(".nodeSelector", fmt.Sprintf("node label %q", k), "allowedNodeSelectorKeys", l.AllowedNodeSelectorKeys, k)
	}
	for _, k := range nodeAffinityKeys(p.Affinity) {
		refuse(".affinity.nodeAffinity", fmt.Sprintf("node label %q", k), "allowedNodeSelectorKeys", l.AllowedNodeSelectorKeys, k)
	}
	for i, t := range p.Tolerations {
		what := fmt.Sprintf("taint key %q", t.Key)
		if t.Key == "" {
			what = "a toleration without a key (it tolerates every taint)"
		}
		refuse(fmt.Sprintf(".tolerations[%d]", i), what, "allowedTolerationKeys", l.AllowedTolerationKeys, t.Key)
	}
	return out
}

// nodeAffinityKeys are the node label keys a's node affinity selects on, required and
// preferred terms alike (expressions and fields).
func nodeAffinityKeys(a *corev1.Affinity) []string {
	if a == nil || a.NodeAffinity == nil {
		return nil
	}
	var terms []corev1.NodeSelectorTerm
	if r := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution; r != nil {
		terms = append(terms, r.NodeSelectorTerms...)
	}
	for _, pt := range a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution {
		terms = append(terms, pt.Preference)
	}
	var keys []string
	for _, t := range terms {
		for _, e := range append(slices.Clone(t.MatchExpressions), t.MatchFields...) {
			keys = append(keys, e.Key)
		}
	}
	return keys
}
