package v1alpha1

// Parameter bounds: a Run's spec.params is at most MaxParams values of at most
// MaxParamValueLength bytes each, so a Run's parameters can never approach etcd's limit.
const (
	MaxParams           = 64
	MaxParamValueLength = 4096
)

// WorkflowParam declares one parameter of a Workflow. Steps read it as $(params.NAME) in
// their image, args and env values, and as $AIAS_PARAM_<NAME in upper case>.
// +kubebuilder:validation:XValidation:rule="!(has(self.required) && self.required && has(self.default))",message="a required parameter has no default"
// +kubebuilder:validation:XValidation:rule="!has(self.default) || !has(self.enum) || self.default in self.enum",message="default must be one of enum"
type WorkflowParam struct {
	// Name is how steps refer to the parameter: letters, digits and underscores, not
	// starting with a digit.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[A-Za-z_][A-Za-z0-9_]*$`
	Name string `json:"name"`

	// Description says what the parameter is for (shown in the console's Run form).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Description string `json:"description,omitempty"`

	// Default is the value when a Run gives none.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Default *string `json:"default,omitempty"`

	// Enum, when set, lists the only values allowed.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=4096
	Enum []string `json:"enum,omitempty"`

	// Required makes a Run without a value for the parameter end Rejected.
	// +optional
	Required bool `json:"required,omitempty"`
}
