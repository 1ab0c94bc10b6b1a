package controllers

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// TenantLimitRangeName is the LimitRange the Tenant controller keeps in every tenant
// namespace (with --tenant-limit-range).
const TenantLimitRangeName = "aias-defaults"

// ContainerDefaults are the requests and limits a container in a tenant namespace gets
// for what it does not set itself: a step without resources is then Burstable, not
// BestEffort (the first Pods a node evicts, and unbounded in what they use). Either list
// may be empty.
type ContainerDefaults struct {
	Requests corev1.ResourceList
	Limits   corev1.ResourceList
}

// +kubebuilder:rbac:groups="",resources=limitranges,verbs=get;list;watch;create;update;patch;delete

// reconcileLimitRange keeps the LimitRange aias-defaults in the Tenant's namespace as
// r.ContainerDefaults say, or removes it when they are nil.
func (r *TenantReconciler) reconcileLimitRange(ctx context.Context, t *aiasv1alpha1.Tenant) error {
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: t.Name, Name: TenantLimitRangeName}}
	d := r.ContainerDefaults
	if d == nil {
		return r.removeTenantObject(ctx, t, lr)
	}
	return r.ensureTenantObject(ctx, t, lr, aiasv1alpha1.ReasonLimitRangeCreated, func() {
		lr.Spec.Limits = []corev1.LimitRangeItem{{
			Type:           corev1.LimitTypeContainer,
			DefaultRequest: d.Requests.DeepCopy(),
			Default:        d.Limits.DeepCopy(),
		}}
	})
}
