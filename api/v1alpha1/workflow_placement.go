package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// PodPlacement says where a step's Pod runs and where its images come from, with the Pod
// spec's own names: on a step, and as the Workflow's defaults in spec.podTemplate (a
// step's own value wins; tolerations and imagePullSecrets add up).
type PodPlacement struct {
	// NodeSelector must match a node's labels for the Pod to be scheduled there.
	// +optional
	// +kubebuilder:validation:MaxProperties=32
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`

	// Tolerations let the Pod run on nodes with matching taints (dedicated or GPU pools).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Tolerations []corev1.Toleration `json:"tolerations,omitempty"`

	// Affinity constrains the Pod's node, or its placement beside other Pods (core/v1
	// Affinity). Its schema is left to the Pod: three copies of it would triple the size
	// of this CRD past what a client-side `kubectl apply` can annotate; a wrong field
	// fails the attempt with the apiserver's message naming it.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Affinity *corev1.Affinity `json:"affinity,omitempty"`

	// PriorityClassName is the Pod's PriorityClass.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	PriorityClassName string `json:"priorityClassName,omitempty"`

	// RuntimeClassName is the Pod's RuntimeClass (gVisor, Kata, a GPU runtime).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	RuntimeClassName *string `json:"runtimeClassName,omitempty"`

	// ImagePullSecrets name Secrets in the namespace holding registry credentials for
	// the step's image. The kubelet reads them; the step never sees their content.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=8
	ImagePullSecrets []corev1.LocalObjectReference `json:"imagePullSecrets,omitempty"`

	// Volumes the step's container may mount: ConfigMaps, Secrets shared with workflows
	// (label aias.dev/workflow-access=true, checked when each attempt starts), emptyDir
	// scratch space and ephemeral volumes from a StorageClass. A step's volume wins over
	// the template's of the same name.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=16
	Volumes []StepVolume `json:"volumes,omitempty"`

	// VolumeMounts mount those volumes in the step's container (not at or under /aias,
	// where the step runtime lives). A step's mount wins over the template's at the same
	// path.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(m, m.mountPath.startsWith('/') && m.mountPath != '/' && m.mountPath != '/aias' && !m.mountPath.startsWith('/aias/') && !m.mountPath.startsWith('/aias-'))",message="mountPath must be absolute, not / and not at or under /aias (the step runtime's)"
	VolumeMounts []corev1.VolumeMount `json:"volumeMounts,omitempty"`
}

// StepVolume is a volume of a step's Pod: exactly one of configMap, secret, emptyDir and
// ephemeral (the Pod spec's names; other sources, such as hostPath, are not offered).
// +kubebuilder:validation:XValidation:rule="[has(self.configMap), has(self.secret), has(self.emptyDir), has(self.ephemeral)].filter(x, x).size() == 1",message="set exactly one of configMap, secret, emptyDir and ephemeral"
type StepVolume struct {
	// Name is what volumeMounts refer to; a DNS label, not starting with aias-.
	// +required
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:XValidation:rule="!self.startsWith('aias-')",message="volume names starting with aias- are the step runtime's"
	Name string `json:"name"`

	// ConfigMap mounts a ConfigMap's keys as files (read-only).
	// +optional
	ConfigMap *ConfigMapVolume `json:"configMap,omitempty"`

	// Secret mounts a Secret's keys as files (read-only). The Secret must be shared with
	// workflows, as for env's secretKeyRef.
	// +optional
	Secret *SecretVolume `json:"secret,omitempty"`

	// EmptyDir is scratch space for the attempt (medium Memory for a tmpfs).
	// +optional
	EmptyDir *corev1.EmptyDirVolumeSource `json:"emptyDir,omitempty"`

	// Ephemeral is a volume provisioned for the attempt from a StorageClass and deleted
	// with its Pod (a generic ephemeral volume).
	// +optional
	Ephemeral *EphemeralVolume `json:"ephemeral,omitempty"`
}

// ConfigMapVolume names a ConfigMap of the Run's namespace.
type ConfigMapVolume struct {
	// +required
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Optional: a missing ConfigMap mounts as an empty directory instead of failing.
	// +optional
	Optional *bool `json:"optional,omitempty"`
}

// SecretVolume names a Secret of the Run's namespace.
type SecretVolume struct {
	// +required
	// +kubebuilder:validation:MaxLength=253
	SecretName string `json:"secretName"`
	// Optional: a missing Secret mounts as an empty directory instead of failing.
	// +optional
	Optional *bool `json:"optional,omitempty"`
}

// EphemeralVolume is a PersistentVolumeClaim made for one attempt's Pod.
type EphemeralVolume struct {
	// StorageClassName is the claim's StorageClass (default: the cluster's).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	StorageClassName *string `json:"storageClassName,omitempty"`
	// Storage is the size requested.
	// +required
	Storage resource.Quantity `json:"storage"`
}

// Placement is step's PodPlacement over the Workflow's podTemplate: the step's own
// nodeSelector keys, affinity, priority and runtime class win; tolerations and
// imagePullSecrets add up (the template's first, without repeating a Secret).
func (s *WorkflowSpec) Placement(step *WorkflowStep) PodPlacement {
	var out PodPlacement
	if t := s.PodTemplate; t != nil {
		t.DeepCopyInto(&out)
	}
	own := step.PodPlacement.DeepCopy()
	if len(own.NodeSelector) > 0 {
		if out.NodeSelector == nil {
			out.NodeSelector = map[string]string{}
		}
		for k, v := range own.NodeSelector {
			out.NodeSelector[k] = v
		}
	}
	out.Tolerations = append(out.Tolerations, own.Tolerations...)
	if own.Affinity != nil {
		out.Affinity = own.Affinity
	}
	if own.PriorityClassName != "" {
		out.PriorityClassName = own.PriorityClassName
	}
	if own.RuntimeClassName != nil {
		out.RuntimeClassName = own.RuntimeClassName
	}
	seen := map[string]bool{}
	for _, r := range out.ImagePullSecrets {
		seen[r.Name] = true
	}
	for _, r := range own.ImagePullSecrets {
		if !seen[r.Name] {
			seen[r.Name] = true
			out.ImagePullSecrets = append(out.ImagePullSecrets, r)
		}
	}
	out.Volumes = mergeByKey(out.Volumes, own.Volumes, func(v StepVolume) string { return v.Name })
	out.VolumeMounts = mergeByKey(out.VolumeMounts, own.VolumeMounts, func(m corev1.VolumeMount) string { return m.MountPath })
	return out
}

// mergeByKey is base with over's items added, an item of over replacing base's of the
// same key in place.
func mergeByKey[T any](base, over []T, key func(T) string) []T {
	for _, o := range over {
		replaced := false
		for i := range base {
			if key(base[i]) == key(o) {
				base[i], replaced = o, true
				break
			}
		}
		if !replaced {
			base = append(base, o)
		}
	}
	return base
}

// PodVolume is v as the Pod's volume. ConfigMaps and Secrets are mounted read-only
// (mode 0444 files: the step runs as a user of its own choosing).
func (v StepVolume) PodVolume() corev1.Volume {
	out := corev1.Volume{Name: v.Name}
	switch {
	case v.ConfigMap != nil:
		out.ConfigMap = &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: v.ConfigMap.Name},
			Optional: v.ConfigMap.Optional, DefaultMode: ptr.To[int32](0o444)}
	case v.Secret != nil:
		out.Secret = &corev1.SecretVolumeSource{SecretName: v.Secret.SecretName, Optional: v.Secret.Optional, DefaultMode: ptr.To[int32](0o444)}
	case v.EmptyDir != nil:
		out.EmptyDir = v.EmptyDir.DeepCopy()
	case v.Ephemeral != nil:
		out.Ephemeral = &corev1.EphemeralVolumeSource{VolumeClaimTemplate: &corev1.PersistentVolumeClaimTemplate{
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				StorageClassName: v.Ephemeral.StorageClassName,
				Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: v.Ephemeral.Storage}},
			}}}
	}
	return out
}
