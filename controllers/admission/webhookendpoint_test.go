package admission

import (
	"context"
	"testing"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// An endpoint whose filter stopped compiling (created while admission was off) can still
// have its finalizer added and removed, so it can be deleted; a spec change to a filter
// that does not compile is refused.
func TestWebhookEndpointAdmissionLetsMetadataUpdatesPass(t *testing.T) {
	a := &WebhookEndpointValidator{}
	old := &aiasv1alpha1.WebhookEndpoint{Spec: aiasv1alpha1.WebhookEndpointSpec{
		WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}, Filter: `body.kind ==`}}
	withFinalizer := old.DeepCopy()
	withFinalizer.Finalizers = []string{aiasv1alpha1.EndpointFinalizer}
	if _, err := a.ValidateUpdate(context.Background(), old, withFinalizer); err != nil {
		t.Errorf("finalizer update refused: %v", err)
	}
	changed := old.DeepCopy()
	changed.Spec.Filter = `body.kind ==  `
	if _, err := a.ValidateUpdate(context.Background(), old, changed); err == nil {
		t.Error("a changed spec with a filter that does not compile passed")
	}
}
