package controllers

import (
	"context"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// TenantNetworkPolicyName is the NetworkPolicy the Tenant controller keeps in every
// tenant namespace (with --tenant-network-policy).
const TenantNetworkPolicyName = "aias-tenant-isolation"

// +kubebuilder:rbac:groups=networking.k8s.io,resources=networkpolicies,verbs=get;list;watch;create;update;patch;delete

// reconcileNetworkPolicy keeps the NetworkPolicy aias-tenant-isolation in the Tenant's
// namespace, or removes it when r.IsolateNetwork is off. It selects every pod of the
// namespace and admits ingress only from pods of the same namespace: another tenant's
// step pods cannot reach this tenant's pods (egress, to the internal step API or
// anywhere else, is not restricted here; the chart's own policies guard aias-system).
// Kubelet probes come from the node and pass under every policy implementation.
func (r *TenantReconciler) reconcileNetworkPolicy(ctx context.Context, t *aiasv1alpha1.Tenant) error {
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: t.Name, Name: TenantNetworkPolicyName}}
	if !r.IsolateNetwork {
		return r.removeTenantObject(ctx, t, np)
	}
	return r.ensureTenantObject(ctx, t, np, aiasv1alpha1.ReasonNetworkPolicyCreated, func() {
		np.Spec = networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{},
			PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{
				From: []networkingv1.NetworkPolicyPeer{{PodSelector: &metav1.LabelSelector{}}},
			}},
		}
	})
}
