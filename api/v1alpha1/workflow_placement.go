package v1alpha1

import corev1 "k8s.io/api/core/v1"

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
	return out
}
