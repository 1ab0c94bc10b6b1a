// Package v1alpha1 contains the aias.dev/v1alpha1 API: Plan, Tenant, Workflow,
// WebhookEndpoint and Run. It is the only public Go package of AIAS, so it depends on
// apimachinery alone and stays cheap to import.
//
// +kubebuilder:object:generate=true
// +groupName=aias.dev
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every AIAS kind.
	GroupVersion = schema.GroupVersion{Group: "aias.dev", Version: "v1alpha1"}

	// SchemeBuilder registers the AIAS kinds with a runtime.Scheme.
	SchemeBuilder = runtime.NewSchemeBuilder(addKnownTypes)

	// AddToScheme adds the AIAS kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme

	// knownTypes is filled by each kind's file through register.
	knownTypes []runtime.Object
)

func register(objs ...runtime.Object) { knownTypes = append(knownTypes, objs...) }

func addKnownTypes(s *runtime.Scheme) error {
	s.AddKnownTypes(GroupVersion, knownTypes...)
	metav1.AddToGroupVersion(s, GroupVersion)
	return nil
}
