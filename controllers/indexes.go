// Package controllers holds one reconciler per AIAS kind.
package controllers

import (
	"context"

	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// IndexRunWorkflow indexes Runs by the Workflow they reference, so that per-Workflow
// questions (how many are active, which are queued, which to prune) are answered from
// the cache instead of by listing every Run in a namespace.
const IndexRunWorkflow = "aias.dev/workflow"

// IndexWebhookEndpointWorkflow indexes WebhookEndpoints by the Workflow they start, so
// that a Workflow appearing or disappearing reaches its endpoints.
const IndexWebhookEndpointWorkflow = "aias.dev/webhookendpoint-workflow"

// IndexWebhookEndpointSecret indexes WebhookEndpoints by the Secret their
// spec.verification.secretRef names, so that a change of that Secret reaches them.
// Endpoints using a generated Secret are not indexed (their Secret's name maps to them).
const IndexWebhookEndpointSecret = "aias.dev/webhookendpoint-secret"

// SetupIndexes registers the field indexes the reconcilers share; call it once per manager.
func SetupIndexes(ctx context.Context, mgr manager.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &aiasv1alpha1.Run{}, IndexRunWorkflow, func(o client.Object) []string {
		return []string{o.(*aiasv1alpha1.Run).Spec.WorkflowRef.Name}
	}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &aiasv1alpha1.WebhookEndpoint{}, IndexWebhookEndpointWorkflow, func(o client.Object) []string {
		return []string{o.(*aiasv1alpha1.WebhookEndpoint).Spec.WorkflowRef.Name}
	}); err != nil {
		return err
	}
	return mgr.GetFieldIndexer().IndexField(ctx, &aiasv1alpha1.WebhookEndpoint{}, IndexWebhookEndpointSecret, func(o client.Object) []string {
		if ref := o.(*aiasv1alpha1.WebhookEndpoint).Spec.Verification.SecretRef; ref != nil {
			return []string{ref.Name}
		}
		return nil
	})
}

// runsOfWorkflow lists the Runs that reference a Workflow, from the cache.
func runsOfWorkflow(ctx context.Context, c client.Reader, namespace, workflow string) ([]aiasv1alpha1.Run, error) {
	var runs aiasv1alpha1.RunList
	err := c.List(ctx, &runs, client.InNamespace(namespace), client.MatchingFields{IndexRunWorkflow: workflow})
	return runs.Items, err
}
