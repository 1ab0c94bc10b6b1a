package v1alpha1

// Shared field types used by several kinds. Condition types and reasons are in
// conditions.go.

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
