package v1alpha1

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestPlacementViolations(t *testing.T) {
	gvisor := "gvisor"
	limits := PlanLimits{
		AllowedRuntimeClasses: []string{"runc"}, AllowedPriorityClasses: []string{"batch"},
		AllowedNodeSelectorKeys: []string{"pool"}, AllowedTolerationKeys: []string{"dedicated"},
	}
	affinity := &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
		RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
			MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "pool"}, {Key: "tenant"}}}}},
		PreferredDuringSchedulingIgnoredDuringExecution: []corev1.PreferredSchedulingTerm{{Preference: corev1.NodeSelectorTerm{
			MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name"}}}}},
	}}
	for _, tc := range []struct {
		name   string
		limits PlanLimits
		p      *PodPlacement
		want   []string
	}{
		{"no placement", limits, nil, nil},
		{"allowed", limits, &PodPlacement{PriorityClassName: "batch", NodeSelector: map[string]string{"pool": "ci"},
			Tolerations: []corev1.Toleration{{Key: "dedicated"}}}, nil},
		{"no lists allow everything", PlanLimits{}, &PodPlacement{RuntimeClassName: &gvisor, NodeSelector: map[string]string{"tenant": "b"},
			Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}, nil},
		{"each refused, named by field", limits, &PodPlacement{
			RuntimeClassName: &gvisor, PriorityClassName: "system-node-critical", NodeSelector: map[string]string{"tenant": "b"},
			Affinity: affinity, Tolerations: []corev1.Toleration{{Key: "dedicated"}, {Operator: corev1.TolerationOpExists}},
		}, []string{
			`spec.steps[0].affinity.nodeAffinity: node label "metadata.name" is not allowed by plan "team" (spec.limits.allowedNodeSelectorKeys: pool)`,
			`spec.steps[0].affinity.nodeAffinity: node label "tenant" is not allowed by plan "team" (spec.limits.allowedNodeSelectorKeys: pool)`,
			`spec.steps[0].nodeSelector: node label "tenant" is not allowed by plan "team" (spec.limits.allowedNodeSelectorKeys: pool)`,
			`spec.steps[0].priorityClassName: priority class "system-node-critical" is not allowed by plan "team" (spec.limits.allowedPriorityClasses: batch)`,
			`spec.steps[0].runtimeClassName: runtime class "gvisor" is not allowed by plan "team" (spec.limits.allowedRuntimeClasses: runc)`,
			`spec.steps[0].tolerations[1]: a toleration without a key (it tolerates every taint) is not allowed by plan "team" (spec.limits.allowedTolerationKeys: dedicated)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.limits.PlacementViolations("team", "spec.steps[0]", tc.p)
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tc.want)
			}
		})
	}
}
