package controllers

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
)

// WebhookEndpointAdmission holds WebhookEndpoint creates to spec.limits.webhookEndpoints
// of the tenant's plan. Updates and deletes are always allowed.
type WebhookEndpointAdmission struct {
	Reader client.Reader
	limits *planLimitsResolver
	ledger *admissionLedger
}

var _ admission.Validator[*aiasv1alpha1.WebhookEndpoint] = &WebhookEndpointAdmission{}

// ValidateCreate checks the namespace's WebhookEndpoint count.
func (a *WebhookEndpointAdmission) ValidateCreate(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint) (admission.Warnings, error) {
	if _, err := deliveryexpr.Compile(&ep.Spec); err != nil {
		return nil, err
	}
	nl, ok, err := a.limits.admitCreate(ctx, "WebhookEndpoint", ep.Namespace)
	if err != nil || !ok {
		return nil, err
	}
	limit := nl.Limits.WebhookEndpoints
	if limit == nil {
		return nil, nil
	}
	n, ok, err := a.ledger.admit("WebhookEndpoint/"+ep.Namespace, ep.Name, int(*limit), func() ([]string, error) {
		return otherNames(ctx, a.Reader, &aiasv1alpha1.WebhookEndpointList{}, ep.Namespace, ep.Name)
	})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("counting the WebhookEndpoints of namespace %s: %w", ep.Namespace, err))
	}
	if !ok {
		return nil, fmt.Errorf("plan %q allows %d WebhookEndpoints per namespace (spec.limits.webhookEndpoints) and namespace %q already holds %d",
			nl.Plan, *limit, ep.Namespace, n)
	}
	return nil, nil
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
