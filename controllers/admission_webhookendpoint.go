package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
)

// WebhookEndpointAdmission holds WebhookEndpoint creates to spec.limits.webhookEndpoints
// of the tenant's plan. Updates and deletes are always allowed.
type WebhookEndpointAdmission struct {
	count namespaceCount
}

var _ admission.Validator[*aiasv1alpha1.WebhookEndpoint] = &WebhookEndpointAdmission{}

// ValidateCreate checks the namespace's WebhookEndpoint count.
func (a *WebhookEndpointAdmission) ValidateCreate(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint) (admission.Warnings, error) {
	if _, err := deliveryexpr.Compile(&ep.Spec); err != nil {
		return nil, err
	}
	_, _, err := a.count.admitCreate(ctx, ep)
	return nil, err
}

// ValidateUpdate refuses only expressions that do not compile: the count does not change.
func (a *WebhookEndpointAdmission) ValidateUpdate(_ context.Context, _, ep *aiasv1alpha1.WebhookEndpoint) (admission.Warnings, error) {
	_, err := deliveryexpr.Compile(&ep.Spec)
	return nil, err
}

// ValidateDelete allows every delete.
func (a *WebhookEndpointAdmission) ValidateDelete(context.Context, *aiasv1alpha1.WebhookEndpoint) (admission.Warnings, error) {
	return nil, nil
}
