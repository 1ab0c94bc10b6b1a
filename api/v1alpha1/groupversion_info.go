// Package v1alpha1 contains the aias.dev/v1alpha1 API: Plan, Tenant, Workflow,
// WebhookEndpoint and Run. It is the only public Go package of AIAS.
//
// +kubebuilder:object:generate=true
// +groupName=aias.dev
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every AIAS kind.
	GroupVersion = schema.GroupVersion{Group: "aias.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the AIAS kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the AIAS kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
