// Package controllers holds one reconciler per AIAS kind.
package controllers

import (
	"context"

	batchv1 "k8s.io/api/batch/v1"

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

// IndexRunWaiting indexes, by Workflow name, only the Runs that wait: not started yet
// (Pending, Queued, or not seen by the Run controller). The map functions that wake
// waiting Runs read it, so a Workflow with 10,000 finished Runs costs them nothing.
const IndexRunWaiting = "aias.dev/waiting-for-workflow"

// anyWorkflow is the IndexRunWaiting value under which every waiting Run is indexed.
const anyWorkflow = "*"

func runWaiting(r *aiasv1alpha1.Run) bool {
	switch r.Status.Phase {
	case "", aiasv1alpha1.RunPending, aiasv1alpha1.RunQueued:
		return r.DeletionTimestamp.IsZero()
	}
	return false
}

// IndexJobRunUID indexes step Jobs by their Run's UID (label aias.dev/run-uid): an index
// lookup instead of a label-selector scan over every cached Job.
const IndexJobRunUID = "aias.dev/run-uid"

// IndexRunStoredContent indexes Runs by what of the store they use: their input
// (storedInputKey, from spec.inputRef and status.inputDigest) and their frozen spec
// (storedSpecKey). The store janitor asks it before it sweeps an input or spec the run
// index does not show in use: a Run that exists but is not indexed yet keeps its own.
const IndexRunStoredContent = "aias.dev/stored-content"

func storedInputKey(digest string) string { return "input/" + digest }
func storedSpecKey(digest string) string  { return "spec/" + digest }

func runStoredContent(o client.Object) []string {
	r := o.(*aiasv1alpha1.Run)
	var keys []string
	if ref := r.Spec.InputRef; ref != nil {
		keys = append(keys, storedInputKey(ref.Digest))
	}
	if d := r.Status.InputDigest; d != "" && (r.Spec.InputRef == nil || d != r.Spec.InputRef.Digest) {
		keys = append(keys, storedInputKey(d))
	}
	if d := r.Status.SpecDigest; d != "" {
		keys = append(keys, storedSpecKey(d))
	}
	return keys
}

// SetupIndexes registers the field indexes the reconcilers share; call it once per manager.
func SetupIndexes(ctx context.Context, mgr manager.Manager) error {
	if err := mgr.GetFieldIndexer().IndexField(ctx, &aiasv1alpha1.Run{}, IndexRunStoredContent, runStoredContent); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &aiasv1alpha1.Run{}, IndexRunWorkflow, func(o client.Object) []string {
		return []string{o.(*aiasv1alpha1.Run).Spec.WorkflowRef.Name}
	}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &batchv1.Job{}, IndexJobRunUID, func(o client.Object) []string {
		if uid := o.GetLabels()[aiasv1alpha1.LabelRunUID]; uid != "" {
			return []string{uid}
		}
		return nil
	}); err != nil {
		return err
	}
	if err := mgr.GetFieldIndexer().IndexField(ctx, &aiasv1alpha1.Run{}, IndexRunWaiting, func(o client.Object) []string {
		if r := o.(*aiasv1alpha1.Run); runWaiting(r) {
			// Also under anyWorkflow: a tenant's concurrency limit spans its Workflows.
			return []string{r.Spec.WorkflowRef.Name, anyWorkflow}
		}
		return nil
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

// runsOfWorkflow lists the Runs that reference a Workflow, from the cache. The Runs are
// shared with the cache (no deep copy: a Workflow can have thousands): read them, sort
// the slice, delete them by name, but never modify one.
func runsOfWorkflow(ctx context.Context, c client.Reader, namespace, workflow string) ([]aiasv1alpha1.Run, error) {
	var runs aiasv1alpha1.RunList
	err := c.List(ctx, &runs, client.InNamespace(namespace), client.MatchingFields{IndexRunWorkflow: workflow}, client.UnsafeDisableDeepCopy)
	return runs.Items, err
}

// waitingRunsOfWorkflow lists, from the cache, the Runs of a Workflow that have not
// started; shared with the cache like runsOfWorkflow's.
func waitingRunsOfWorkflow(ctx context.Context, c client.Reader, namespace, workflow string) ([]aiasv1alpha1.Run, error) {
	var runs aiasv1alpha1.RunList
	err := c.List(ctx, &runs, client.InNamespace(namespace), client.MatchingFields{IndexRunWaiting: workflow}, client.UnsafeDisableDeepCopy)
	return runs.Items, err
}
