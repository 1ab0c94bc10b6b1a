package controllers

import (
	"bytes"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
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

// A step's volumes and mounts join the template's (the step's win by name and by path),
// ConfigMaps and Secrets are mounted read-only, and the step runtime's own volumes stay.
func TestStepPodVolumes(t *testing.T) {
	tokens, _ := steptoken.NewIssuer(bytes.Repeat([]byte("k"), 32))
	r := &RunReconciler{Tokens: tokens, RunnerImage: "runner", Now: time.Now}
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", UID: "run-uid"}}
	fast := "fast-ssd"
	spec := &aiasv1alpha1.WorkflowSpec{
		PodTemplate: &aiasv1alpha1.PodPlacement{
			Volumes: []aiasv1alpha1.StepVolume{
				{Name: "config", ConfigMap: &aiasv1alpha1.ConfigMapVolume{Name: "app-config"}},
				{Name: "scratch", EmptyDir: &corev1.EmptyDirVolumeSource{}},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/app"}, {Name: "scratch", MountPath: "/scratch"}},
		},
		Steps: []aiasv1alpha1.WorkflowStep{{Name: "build", Image: "golang", PodPlacement: aiasv1alpha1.PodPlacement{
			Volumes: []aiasv1alpha1.StepVolume{
				{Name: "scratch", Ephemeral: &aiasv1alpha1.EphemeralVolume{StorageClassName: &fast, Storage: resource.MustParse("10Gi")}},
				{Name: "creds", Secret: &aiasv1alpha1.SecretVolume{SecretName: "registry"}},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "creds", MountPath: "/creds"}},
		}}},
	}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "r-build-1", Namespace: "ns", UID: "job-uid"}}
	pod := buildPod(r.buildStepPod(run, spec, stepUnit(spec, 0), 1), job).Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	if len(pod.Volumes) != 5 || volumes[stepjob.BinVolume].EmptyDir == nil || volumes[stepjob.WorkVolume].EmptyDir == nil {
		t.Fatalf("volumes %+v: want the runtime's two and config, scratch, creds", pod.Volumes)
	}
	if v := volumes["scratch"]; v.Ephemeral == nil || v.Ephemeral.VolumeClaimTemplate.Spec.Resources.Requests.Storage().String() != "10Gi" {
		t.Errorf("scratch %+v: the step's ephemeral volume replaces the template's emptyDir", v)
	}
	if v := volumes["config"]; v.ConfigMap == nil || v.ConfigMap.Name != "app-config" || volumes["creds"].Secret == nil {
		t.Errorf("config %+v, creds %+v", v, volumes["creds"])
	}
	mounts := map[string]corev1.VolumeMount{}
	for _, m := range pod.Containers[0].VolumeMounts {
		mounts[m.MountPath] = m
	}
	if len(mounts) != 5 || !mounts["/etc/app"].ReadOnly || !mounts["/creds"].ReadOnly || mounts["/scratch"].ReadOnly {
		t.Errorf("mounts %+v: the runtime's two, and /etc/app and /creds read-only, /scratch writable", pod.Containers[0].VolumeMounts)
	}
}

// The step runtime comes from an init container by default, and from the CSI driver's
// read-only inline volume with --step-runtime=csi: the same volume name and path for the
// step container, no init container.
func TestStepPodRuntime(t *testing.T) {
	tokens, _ := steptoken.NewIssuer(bytes.Repeat([]byte("k"), 32))
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns", UID: "run-uid"}}
	spec := &aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{Name: "a", Image: "busybox"}}}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "r-a-1", Namespace: "ns", UID: "job-uid"}}
	for _, tc := range []struct {
		runtime StepRuntime
		check   func(t *testing.T, bin corev1.Volume, init []corev1.Container)
	}{
		{"", func(t *testing.T, bin corev1.Volume, init []corev1.Container) {
			if bin.EmptyDir == nil || len(init) != 1 || init[0].Name != stepjob.InstallContainer || init[0].Image != "runner" {
				t.Errorf("default: bin volume %+v, init containers %+v", bin, init)
			}
		}},
		{StepRuntimeCSI, func(t *testing.T, bin corev1.Volume, init []corev1.Container) {
			if bin.CSI == nil || bin.CSI.Driver != stepjob.RuntimeDriver || bin.CSI.ReadOnly == nil || !*bin.CSI.ReadOnly || len(init) != 0 {
				t.Errorf("csi: bin volume %+v, init containers %+v", bin, init)
			}
		}},
	} {
		r := &RunReconciler{Tokens: tokens, RunnerImage: "runner", StepRuntime: tc.runtime, Now: time.Now}
		pod := buildPod(r.buildStepPod(run, spec, stepUnit(spec, 0), 1), job).Spec
		if pod.Volumes[0].Name != stepjob.BinVolume {
			t.Fatalf("%q: first volume %q, want the runtime's", tc.runtime, pod.Volumes[0].Name)
		}
		tc.check(t, pod.Volumes[0], pod.InitContainers)
		if m := pod.Containers[0].VolumeMounts[0]; m.Name != stepjob.BinVolume || m.MountPath != stepjob.BinDir || !m.ReadOnly {
			t.Errorf("%q: step container mounts %+v", tc.runtime, m)
		}
	}
	if _, err := ParseStepRuntime("sidecar"); err == nil {
		t.Error("ParseStepRuntime accepted an unknown way")
	}
}
