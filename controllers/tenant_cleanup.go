package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/log"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// ensureTenantStore puts aiasv1alpha1.TenantFinalizer on a live Tenant, so that what the
// store keeps for it is deleted with it, and adopts the run claims counted under its name
// before they were keyed by UID (migration 017). Without a store it does nothing.
func (r *TenantReconciler) ensureTenantStore(ctx context.Context, t *aiasv1alpha1.Tenant) error {
	if r.Store == nil {
		return nil
	}
	if !controllerutil.ContainsFinalizer(t, aiasv1alpha1.TenantFinalizer) {
		patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(t, aiasv1alpha1.TenantFinalizer)
		if err := r.Patch(ctx, t, patch); err != nil {
			return fmt.Errorf("adding the finalizer to Tenant %s: %w", t.Name, err)
		}
	}
	n, err := r.Store.AdoptLegacyRunClaims(ctx, t.Name, string(t.UID), t.CreationTimestamp.Time)
	if err != nil {
		return fmt.Errorf("adopting the run claims of Tenant %s: %w", t.Name, err)
	}
	if n > 0 {
		log.FromContext(ctx).Info("adopted run claims counted under the tenant's name", "tenant", t.Name, "claims", n)
	}
	return nil
}

// cleanUpTenant runs the finalizer of a deleted Tenant: it deletes the Tenant's run
// claims, usage counters and billing state by its UID, records an event, then lets the
// Tenant go (the garbage collector then takes its RoleBindings, and its Namespace under
// deletionPolicy Delete). Repeating it is harmless, so a restart in between only repeats
// the deletes. A Tenant created again under the same name has a new UID and starts from
// zero runs in any case. A Run admitted for the Tenant while it was being deleted may
// leave a claim under the dead UID, which nothing reads; the janitor purges it with its
// billing period (usageKept).
func (r *TenantReconciler) cleanUpTenant(ctx context.Context, t *aiasv1alpha1.Tenant) error {
	if r.Store == nil || !controllerutil.ContainsFinalizer(t, aiasv1alpha1.TenantFinalizer) {
		return nil
	}
	if err := r.Store.DeleteTenantUsage(ctx, t.Name, string(t.UID)); err != nil {
		return fmt.Errorf("deleting the usage of Tenant %s: %w", t.Name, err)
	}
	// Keyed by the Tenant's UID, as its run claims and counters are.
	if err := r.Store.DeleteTenantBilling(ctx, string(t.UID)); err != nil {
		return fmt.Errorf("deleting the billing state of Tenant %s: %w", t.Name, err)
	}
	patch := client.MergeFromWithOptions(t.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(t, aiasv1alpha1.TenantFinalizer)
	if err := r.Patch(ctx, t, patch); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, aiasv1alpha1.ReasonUsageDeleted, "DeleteUsage",
		"deleted the tenant's run claims, usage counters and billing state from the store")
	return nil
}
