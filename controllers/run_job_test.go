package controllers

import (
	"bytes"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
)

// A step Pod is made from the frozen spec; of its Job only the identity is read, which a
// cached Job (its spec stripped, internal/manager's jobTransform) still has.
func TestStepPodFromFrozenSpecNotFromJob(t *testing.T) {
	tokens, _ := steptoken.NewIssuer(bytes.Repeat([]byte("k"), 32))
	r := &RunReconciler{Tokens: tokens, RunnerImage: "runner", Now: time.Now}
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", UID: "run-uid"}}
	a := aiasv1alpha1.WorkflowStep{Name: "a", Image: "busybox", Timeout: &metav1.Duration{Duration: 90 * time.Second}}
	spec := &aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{a}}
	cached := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "r-a-1", Namespace: "ns", UID: "job-uid"}} // no spec at all
	pod := buildPod(r.buildStepPod(run, spec, stepUnit(spec, 0), 1), cached)
	if len(pod.Spec.Containers) != 1 || pod.Spec.Containers[0].Name != stepjob.StepContainer || pod.Spec.Containers[0].Image != "busybox" {
		t.Fatalf("containers = %+v", pod.Spec.Containers)
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d == nil || *d != 90 {
		t.Errorf("activeDeadlineSeconds = %v", d)
	}
	if pod.Name != "r-a-1" || pod.Labels[batchv1.JobNameLabel] != "r-a-1" || pod.Labels[batchv1.ControllerUidLabel] != "job-uid" ||
		pod.Labels[aiasv1alpha1.LabelRunUID] != "run-uid" || !metav1.IsControlledBy(pod, cached) {
		t.Errorf("pod identity: name %s, labels %v, owners %v", pod.Name, pod.Labels, pod.OwnerReferences)
	}
}

// A step's placement — nodeSelector, tolerations, affinity, priority and runtime class,
// imagePullSecrets — reaches its Pod, over the Workflow's podTemplate: the step's own
// values win, tolerations and pull Secrets add up.
func TestStepPodPlacement(t *testing.T) {
	tokens, _ := steptoken.NewIssuer(bytes.Repeat([]byte("k"), 32))
	r := &RunReconciler{Tokens: tokens, RunnerImage: "runner", Now: time.Now}
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", UID: "run-uid"}}
	gvisor, kata := "gvisor", "kata"
	spec := &aiasv1alpha1.WorkflowSpec{
		PodTemplate: &aiasv1alpha1.PodPlacement{
			NodeSelector:      map[string]string{"pool": "shared", "arch": "amd64"},
			Tolerations:       []corev1.Toleration{{Key: "dedicated", Value: "ci", Effect: corev1.TaintEffectNoSchedule}},
			PriorityClassName: "batch", RuntimeClassName: &gvisor,
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}},
		},
		Steps: []aiasv1alpha1.WorkflowStep{
			{Name: "plain", Image: "busybox"},
			{Name: "gpu", Image: "cuda", PodPlacement: aiasv1alpha1.PodPlacement{
				NodeSelector:     map[string]string{"pool": "gpu"},
				Tolerations:      []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists}},
				RuntimeClassName: &kata,
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: "registry"}, {Name: "nvcr"}},
				Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
					NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"a"}}}}}}}},
			}},
		}}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "r-x-1", Namespace: "ns", UID: "job-uid"}}
	plain := buildPod(r.buildStepPod(run, spec, stepUnit(spec, 0), 1), job).Spec
	if plain.NodeSelector["pool"] != "shared" || len(plain.Tolerations) != 1 || plain.PriorityClassName != "batch" || *plain.RuntimeClassName != "gvisor" || len(plain.ImagePullSecrets) != 1 {
		t.Errorf("plain step's Pod: %+v", plain)
	}
	gpu := buildPod(r.buildStepPod(run, spec, stepUnit(spec, 1), 1), job).Spec
	if gpu.NodeSelector["pool"] != "gpu" || gpu.NodeSelector["arch"] != "amd64" {
		t.Errorf("nodeSelector %v: the step's key wins, the template's others stay", gpu.NodeSelector)
	}
	if len(gpu.Tolerations) != 2 || *gpu.RuntimeClassName != "kata" || gpu.PriorityClassName != "batch" || gpu.Affinity == nil {
		t.Errorf("gpu step's Pod: tolerations %v runtime %v priority %q affinity %v", gpu.Tolerations, *gpu.RuntimeClassName, gpu.PriorityClassName, gpu.Affinity)
	}
	if len(gpu.ImagePullSecrets) != 2 || gpu.ImagePullSecrets[0].Name != "registry" || gpu.ImagePullSecrets[1].Name != "nvcr" {
		t.Errorf("imagePullSecrets %v: the template's, then the step's new ones", gpu.ImagePullSecrets)
	}
}
