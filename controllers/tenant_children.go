package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// ensureTenantObject creates or updates obj (its name and namespace set) in the Tenant's
// namespace, owned by the Tenant, so that mutate holds: idempotent, one write when it
// differs, none when it does not. It records an event naming reason when it creates obj.
func (r *TenantReconciler) ensureTenantObject(ctx context.Context, t *aiasv1alpha1.Tenant, obj client.Object, reason string, mutate func()) error {
	kind := fmt.Sprintf("%T", obj)
	res, err := controllerutil.CreateOrUpdate(ctx, r.Client, obj, func() error {
		mutate()
		labels := obj.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[aiasv1alpha1.LabelTenant] = t.Name
		labels[aiasv1alpha1.LabelManagedBy] = aiasv1alpha1.ManagedByAias
		obj.SetLabels(labels)
		return controllerutil.SetControllerReference(t, obj, r.Scheme)
	})
	if err != nil {
		return fmt.Errorf("writing %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err)
	}
	if res == controllerutil.OperationResultCreated {
		r.Recorder.Eventf(t, obj, corev1.EventTypeNormal, reason, "Create", "created %s/%s", obj.GetNamespace(), obj.GetName())
	}
	return nil
}

// removeTenantObject deletes the object of obj's kind, name and namespace when the Tenant
// owns it (a feature turned off); one it does not own is left alone.
func (r *TenantReconciler) removeTenantObject(ctx context.Context, t *aiasv1alpha1.Tenant, obj client.Object) error {
	err := r.Get(ctx, types.NamespacedName{Namespace: obj.GetNamespace(), Name: obj.GetName()}, obj)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !metav1.IsControlledBy(obj, t) || !obj.GetDeletionTimestamp().IsZero() {
		return nil
	}
	uid := obj.GetUID()
	if err := r.Delete(ctx, obj, client.Preconditions{UID: &uid}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting %s/%s: %w", obj.GetNamespace(), obj.GetName(), err)
	}
	return nil
}
