package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// endpointCleanupBatches bounds the delete batches of one reconcile (ledgerPurgeBatch
// rows each): an endpoint with millions of logged deliveries is cleaned up over several
// reconciles, each a requeue, so other endpoints are not held up behind it.
const endpointCleanupBatches = 20

// endpointCleanupPause is the requeue between two such reconciles.
const endpointCleanupPause = 100 * time.Millisecond

// ensureEndpointFinalizer puts aiasv1alpha1.EndpointFinalizer on a live endpoint, so that
// its rows in the store are deleted with it. A metadata patch with the optimistic lock;
// ep is updated in place. Without a store there is nothing to clean up.
func (r *WebhookEndpointReconciler) ensureEndpointFinalizer(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint) error {
	if r.Store == nil || controllerutil.ContainsFinalizer(ep, aiasv1alpha1.EndpointFinalizer) {
		return nil
	}
	patch := client.MergeFromWithOptions(ep.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.AddFinalizer(ep, aiasv1alpha1.EndpointFinalizer)
	if err := r.Patch(ctx, ep, patch); err != nil {
		return fmt.Errorf("adding the finalizer to WebhookEndpoint %s/%s: %w", ep.Namespace, ep.Name, err)
	}
	return nil
}

// cleanUpEndpoint runs the finalizer of a deleted endpoint: it deletes the endpoint's
// delivery log (bodies included) and delivery-ledger rows by the endpoint's UID, records
// an event, then lets the endpoint go. Every step may be repeated: a restart in between
// deletes what is left and removes the finalizer then. An endpoint created again under
// the same name has a new UID and sees none of these rows in any case.
func (r *WebhookEndpointReconciler) cleanUpEndpoint(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint) (ctrl.Result, error) {
	if r.Store == nil || !controllerutil.ContainsFinalizer(ep, aiasv1alpha1.EndpointFinalizer) {
		return ctrl.Result{}, nil
	}
	var deleted int64
	for i := 0; ; i++ {
		if i == endpointCleanupBatches {
			return ctrl.Result{RequeueAfter: endpointCleanupPause}, nil // more to delete: after the others waiting
		}
		n, err := r.Store.DeleteEndpointDeliveries(ctx, string(ep.UID), ledgerPurgeBatch)
		deleted += n
		if err != nil {
			return ctrl.Result{}, fmt.Errorf("deleting the deliveries of WebhookEndpoint %s/%s: %w", ep.Namespace, ep.Name, err)
		}
		if n < ledgerPurgeBatch {
			break
		}
	}
	patch := client.MergeFromWithOptions(ep.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(ep, aiasv1alpha1.EndpointFinalizer)
	if err := r.Patch(ctx, ep, patch); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(ep, nil, corev1.EventTypeNormal, aiasv1alpha1.ReasonDeliveriesDeleted, "DeleteDeliveries",
		"deleted the endpoint's delivery log (bodies included) and delivery ledger from the store (%d rows in the last reconcile)", deleted)
	return ctrl.Result{}, nil
}
