package v1alpha1

// Shared field types and the condition vocabulary used by every kind.

// ConditionReady is the condition every AIAS kind reports: True when the object is
// usable as declared, False with a reason and a message naming what is wrong.
const ConditionReady = "Ready"

// DurationPattern accepts Go duration strings such as "90s", "5m" or "1h30m".
// It is repeated literally in the markers below because markers cannot reference constants.
const DurationPattern = `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`

// WorkflowReference names a Workflow in the referring object's own namespace.
// Cross-namespace references are refused: a tenant can only start its own workflows.
// +kubebuilder:validation:XValidation:rule="!has(self.__namespace__)",message="cross-namespace references are not allowed: the Workflow must be in this object's namespace"
type WorkflowReference struct {
	// Name of the Workflow, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`

	// Namespace exists only so that a cross-namespace reference is refused with a clear
	// message instead of being silently dropped; it must be left unset.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// SecretReference names a Secret in the referring object's own namespace.
type SecretReference struct {
	// Name of the Secret, in the same namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Name string `json:"name"`
}
