package controllers

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

var testContainerDefaults = ContainerDefaults{
	Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
	Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")},
}

// A tenant namespace gets, from its Tenant, the LimitRange aias-defaults (a step Pod that
// names no resources gets the defaults and is Burstable, not BestEffort) and the
// NetworkPolicy aias-tenant-isolation (ingress only from pods of the same namespace), both
// owned by the Tenant, announced by an event, and put back when someone changes them. On
// main tenant namespaces got neither: step pods without resources were BestEffort and any
// pod of the cluster could reach them.
func TestTenantNamespaceGetsLimitRangeAndNetworkPolicy(t *testing.T) {
	plan := tnName("tn-free")
	h := startTenantController(t, func(r *TenantReconciler) {
		r.DefaultPlan, r.ContainerDefaults, r.IsolateNetwork = plan, &testContainerDefaults, true
	})
	h.createPlan(plan)
	name := tnName("tn-defaults")
	h.createTenant(name, aiasv1alpha1.TenantSpec{})
	tn := h.waitTenant(name, "Ready", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, plan))

	lr := &corev1.LimitRange{}
	wfEventually(t, "LimitRange "+TenantLimitRangeName, func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKey{Namespace: name, Name: TenantLimitRangeName}, lr)
		return err == nil, fmt.Sprint(err)
	})
	if !metav1.IsControlledBy(lr, tn) || len(lr.Spec.Limits) != 1 || lr.Spec.Limits[0].Type != corev1.LimitTypeContainer ||
		!equality.Semantic.DeepEqual(lr.Spec.Limits[0].DefaultRequest, testContainerDefaults.Requests) ||
		!equality.Semantic.DeepEqual(lr.Spec.Limits[0].Default, testContainerDefaults.Limits) {
		t.Errorf("LimitRange %+v (owners %v), want the container defaults, controlled by the Tenant", lr.Spec, lr.OwnerReferences)
	}
	np := &networkingv1.NetworkPolicy{}
	wfEventually(t, "NetworkPolicy "+TenantNetworkPolicyName, func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKey{Namespace: name, Name: TenantNetworkPolicyName}, np)
		return err == nil, fmt.Sprint(err)
	})
	sameNamespaceOnly := len(np.Spec.Ingress) == 1 && len(np.Spec.Ingress[0].Ports) == 0 && len(np.Spec.Ingress[0].From) == 1 &&
		np.Spec.Ingress[0].From[0].NamespaceSelector == nil && np.Spec.Ingress[0].From[0].IPBlock == nil &&
		np.Spec.Ingress[0].From[0].PodSelector != nil && len(np.Spec.Ingress[0].From[0].PodSelector.MatchLabels)+len(np.Spec.Ingress[0].From[0].PodSelector.MatchExpressions) == 0
	if !metav1.IsControlledBy(np, tn) || len(np.Spec.PodSelector.MatchLabels)+len(np.Spec.PodSelector.MatchExpressions) != 0 ||
		!equality.Semantic.DeepEqual(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) || !sameNamespaceOnly {
		t.Errorf("NetworkPolicy %+v (owners %v), want every pod's ingress only from the namespace's pods, controlled by the Tenant", np.Spec, np.OwnerReferences)
	}
	h.waitTenantEvent(name, corev1.EventTypeNormal, aiasv1alpha1.ReasonLimitRangeCreated, TenantLimitRangeName)
	h.waitTenantEvent(name, corev1.EventTypeNormal, aiasv1alpha1.ReasonNetworkPolicyCreated, TenantNetworkPolicyName)

	// What the apiserver makes of a step Pod that names no resources (a dry run: admission,
	// LimitRanger included, runs; nothing is stored).
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "step"},
		Spec: corev1.PodSpec{
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](1000),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "step", Image: "busybox", SecurityContext: &corev1.SecurityContext{
				AllowPrivilegeEscalation: ptr.To(false), Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		},
	}
	if err := h.c.Create(h.ctx, pod, client.DryRunAll); err != nil {
		t.Fatal(err)
	}
	res := pod.Spec.Containers[0].Resources
	if !equality.Semantic.DeepEqual(res.Requests, testContainerDefaults.Requests) || !equality.Semantic.DeepEqual(res.Limits, testContainerDefaults.Limits) {
		t.Errorf("a container without resources got %+v, want the LimitRange's defaults", res)
	}
	if pod.Status.QOSClass != corev1.PodQOSBurstable {
		t.Errorf("QoS class %q, want Burstable", pod.Status.QOSClass)
	}

	// Changed by hand: put back.
	lr.Spec.Limits[0].Default = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64")}
	if err := h.c.Update(h.ctx, lr); err != nil {
		t.Fatal(err)
	}
	wfEventually(t, "the LimitRange put back", func() (bool, string) {
		if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: name, Name: TenantLimitRangeName}, lr); err != nil {
			return false, err.Error()
		}
		return equality.Semantic.DeepEqual(lr.Spec.Limits[0].Default, testContainerDefaults.Limits), fmt.Sprint(lr.Spec.Limits[0].Default)
	})
	if evs := h.tenantEvents(name, aiasv1alpha1.ReasonLimitRangeCreated); len(evs) != 1 || eventCount(evs[0]) != 1 {
		t.Errorf("want one %s event, got %v", aiasv1alpha1.ReasonLimitRangeCreated, eventMessages(evs))
	}
}

// With both turned off (--tenant-limit-range=false, --tenant-network-policy=false) the
// Tenant controller creates neither and removes the ones it owns; a LimitRange of the same
// name that is not the Tenant's is left alone.
func TestTenantNamespaceDefaultsTurnedOff(t *testing.T) {
	plan := tnName("tn-free")
	h := startTenantController(t, func(r *TenantReconciler) { r.DefaultPlan = plan })
	h.createPlan(plan)
	name := tnName("tn-nodefaults")
	h.createTenant(name, aiasv1alpha1.TenantSpec{})
	tn := h.waitTenant(name, "Ready", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, plan))
	// Left over from when they were on: owned by the Tenant.
	owner := []metav1.OwnerReference{*metav1.NewControllerRef(tn, aiasv1alpha1.GroupVersion.WithKind("Tenant"))}
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: TenantNetworkPolicyName, OwnerReferences: owner},
		Spec: networkingv1.NetworkPolicySpec{PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}}}
	// Someone else's, of the LimitRange's name.
	lr := &corev1.LimitRange{ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: TenantLimitRangeName},
		Spec: corev1.LimitRangeSpec{Limits: []corev1.LimitRangeItem{{Type: corev1.LimitTypeContainer, Default: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2")}}}}}
	for _, o := range []client.Object{np, lr} {
		if err := h.c.Create(h.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	wfEventually(t, "the Tenant's NetworkPolicy removed", func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKeyFromObject(np), &networkingv1.NetworkPolicy{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	if err := h.c.Get(h.ctx, client.ObjectKeyFromObject(lr), lr); err != nil || len(lr.OwnerReferences) != 0 {
		t.Errorf("a LimitRange that is not the Tenant's was touched: %v %v", err, lr.OwnerReferences)
	}
}
