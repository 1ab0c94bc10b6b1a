package admission

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// A plan's placement lists refuse what would put a tenant's steps on another tenant's
// nodes or runtimes, naming the field; an update keeps what the Workflow already had.
func TestPlacementRefusedByPlan(t *testing.T) {
	gvisor, kata := "gvisor", "kata"
	nl := namespaceLimits{Tenant: "acme", Plan: "shared", Limits: aiasv1alpha1.PlanLimits{
		AllowedRuntimeClasses: []string{"gvisor"}, AllowedPriorityClasses: []string{"batch"},
		AllowedNodeSelectorKeys: []string{"pool"}, AllowedTolerationKeys: []string{"ci"}}}
	wf := func(p aiasv1alpha1.PodPlacement, tmpl *aiasv1alpha1.PodPlacement) *aiasv1alpha1.Workflow {
		return &aiasv1alpha1.Workflow{Spec: aiasv1alpha1.WorkflowSpec{PodTemplate: tmpl,
			Steps: []aiasv1alpha1.WorkflowStep{{Name: "a", Image: "busybox", Command: []string{"true"}}, {Name: "b", Image: "busybox", Command: []string{"true"}, PodPlacement: p}}}}
	}
	ok := wf(aiasv1alpha1.PodPlacement{RuntimeClassName: &gvisor, PriorityClassName: "batch", NodeSelector: map[string]string{"pool": "ci"},
		Tolerations: []corev1.Toleration{{Key: "ci", Operator: corev1.TolerationOpExists}}}, nil)
	if err := checkPlacement(nl, nil, ok); err != nil {
		t.Errorf("allowed placement refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		wf   *aiasv1alpha1.Workflow
		want string
	}{
		{"runtime class", wf(aiasv1alpha1.PodPlacement{RuntimeClassName: &kata}, nil), `spec.steps[1].runtimeClassName: runtime class "kata" is not allowed by plan "shared"`},
		{"priority class in the template", wf(aiasv1alpha1.PodPlacement{}, &aiasv1alpha1.PodPlacement{PriorityClassName: "system-cluster-critical"}), `spec.podTemplate.priorityClassName: priority class "system-cluster-critical"`},
		{"node label", wf(aiasv1alpha1.PodPlacement{NodeSelector: map[string]string{"tenant": "other"}}, nil), `spec.steps[1].nodeSelector: node label "tenant"`},
		{"node affinity", wf(aiasv1alpha1.PodPlacement{Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "tenant", Operator: corev1.NodeSelectorOpIn, Values: []string{"other"}}}}}}}}}, nil),
			`spec.steps[1].affinity.nodeAffinity: node label "tenant"`},
		{"toleration of every taint", wf(aiasv1alpha1.PodPlacement{Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}}, nil), `spec.steps[1].tolerations[0]: a toleration without a key`},
	} {
		err := checkPlacement(nl, nil, tc.wf)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	// A plan that became stricter does not block editing a Workflow that already had it.
	had := wf(aiasv1alpha1.PodPlacement{RuntimeClassName: &kata}, nil)
	edited := had.DeepCopy()
	edited.Spec.Steps[0].Args = []string{"changed"}
	if err := checkPlacement(nl, had, edited); err != nil {
		t.Errorf("edit of a Workflow that already had the runtime class: %v", err)
	}
	// No lists: anything goes.
	if err := checkPlacement(namespaceLimits{Plan: "open"}, nil, had); err != nil {
		t.Errorf("plan without lists: %v", err)
	}
}
