package admission

import (
	"context"

	"k8s.io/apimachinery/pkg/api/equality"
	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
)

// WebhookEndpointValidator holds WebhookEndpoint creates to spec.limits.webhookEndpoints
// of the tenant's plan. Updates and deletes are always allowed.
type WebhookEndpointValidator struct {
	count namespaceCount
}

var _ cradmission.Validator[*aiasv1alpha1.WebhookEndpoint] = &WebhookEndpointValidator{}

// ValidateCreate checks the namespace's WebhookEndpoint count.
func (a *WebhookEndpointValidator) ValidateCreate(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint) (cradmission.Warnings, error) {
	if _, err := deliveryexpr.Compile(&ep.Spec); err != nil {
		return nil, err
	}
	_, _, err := a.count.admitCreate(ctx, ep)
	return nil, err
}

// ValidateUpdate refuses only a changed spec whose expressions do not compile: the count
// does not change. An update that leaves the spec alone (the controller's finalizer going
// on or off) passes even when the expressions stopped compiling (an endpoint created
// while admission was off): refusing it would keep such an endpoint from being deleted.
func (a *WebhookEndpointValidator) ValidateUpdate(_ context.Context, old, ep *aiasv1alpha1.WebhookEndpoint) (cradmission.Warnings, error) {
	if equality.Semantic.DeepEqual(old.Spec, ep.Spec) {
		return nil, nil
	}
	_, err := deliveryexpr.Compile(&ep.Spec)
	return nil, err
}

// ValidateDelete allows every delete.
func (a *WebhookEndpointValidator) ValidateDelete(context.Context, *aiasv1alpha1.WebhookEndpoint) (cradmission.Warnings, error) {
	return nil, nil
}
