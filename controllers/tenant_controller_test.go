package controllers

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
)

// tnHarness is one test's manager running the Tenant controller. Tenants and Plans are
// cluster-scoped, so every test names its own with a random suffix.
type tnHarness struct {
	t   *testing.T
	ctx context.Context
	r   *TenantReconciler
	c   client.Client // uncached, straight to the API server
}

// startTenantController runs the Tenant controller and, beside it as in the manager, the
// usage controller with its defaults.
func startTenantController(t *testing.T, configure func(*TenantReconciler)) *tnHarness {
	return startTenantControllers(t, configure, nil)
}

// startTenantControllers runs the Tenant and usage controllers, each configured first;
// the usage controller gets the Tenant controller's plan settings.
func startTenantControllers(t *testing.T, configure func(*TenantReconciler), configureUsage func(*TenantUsageReconciler)) *tnHarness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &tnHarness{t: t, ctx: ctx, c: testEnv.Client}
	h.r = &TenantReconciler{}
	if configure != nil {
		configure(h.r)
	}
	usage := &TenantUsageReconciler{DefaultPlan: h.r.DefaultPlan, PastDueGrace: h.r.PastDueGrace, Now: h.r.Now}
	if configureUsage != nil {
		configureUsage(usage)
	}
	startTestManager(t, nil, func(_ context.Context, mgr manager.Manager) error {
		if err := h.r.SetupWithManager(mgr); err != nil {
			return err
		}
		return usage.SetupWithManager(mgr)
	})
	t.Cleanup(cancel)
	return h
}

func tnName(prefix string) string { return prefix + "-" + utilrand.String(6) }

func (h *tnHarness) createTenant(name string, spec aiasv1alpha1.TenantSpec) {
	h.t.Helper()
	tn := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: spec}
	if err := h.c.Create(h.ctx, tn); err != nil {
		h.t.Fatalf("creating Tenant %s: %v", name, err)
	}
	h.t.Cleanup(func() { _ = h.c.Delete(context.Background(), tn) })
}

// tenantUID reads the Tenant's UID, which its run claims and counters are keyed by.
func (h *tnHarness) tenantUID(name string) types.UID {
	h.t.Helper()
	tn := &aiasv1alpha1.Tenant{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Name: name}, tn); err != nil {
		h.t.Fatal(err)
	}
	return tn.UID
}

func (h *tnHarness) createPlan(name string, prices ...string) {
	h.t.Helper()
	p := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: aiasv1alpha1.PlanSpec{StripePriceIDs: prices}}
	if err := h.c.Create(h.ctx, p); err != nil {
		h.t.Fatalf("creating Plan %s: %v", name, err)
	}
	h.t.Cleanup(func() { _ = h.c.Delete(context.Background(), p) })
}

func (h *tnHarness) updateTenant(name string, mutate func(*aiasv1alpha1.Tenant)) {
	h.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		tn := &aiasv1alpha1.Tenant{}
		if err := h.c.Get(h.ctx, client.ObjectKey{Name: name}, tn); err != nil {
			return err
		}
		mutate(tn)
		return h.c.Update(h.ctx, tn)
	})
	if err != nil {
		h.t.Fatalf("updating Tenant %s: %v", name, err)
	}
}

// waitTenant polls the Tenant until cond holds for its current generation and returns it.
func (h *tnHarness) waitTenant(name, what string, cond func(*aiasv1alpha1.Tenant) (bool, string)) *aiasv1alpha1.Tenant {
	h.t.Helper()
	var tn *aiasv1alpha1.Tenant
	wfEventually(h.t, fmt.Sprintf("Tenant %s: %s", name, what), func() (bool, string) {
		tn = &aiasv1alpha1.Tenant{}
		if err := h.c.Get(h.ctx, client.ObjectKey{Name: name}, tn); err != nil {
			return false, err.Error()
		}
		if tn.Status.ObservedGeneration != tn.Generation {
			return false, fmt.Sprintf("observedGeneration %d, generation %d", tn.Status.ObservedGeneration, tn.Generation)
		}
		return cond(tn)
	})
	return tn
}

func tenantReady(status metav1.ConditionStatus, reason, plan string) func(*aiasv1alpha1.Tenant) (bool, string) {
	return func(tn *aiasv1alpha1.Tenant) (bool, string) {
		c := meta.FindStatusCondition(tn.Status.Conditions, aiasv1alpha1.ConditionReady)
		if c == nil {
			return false, "no Ready condition"
		}
		ok := c.Status == status && c.Reason == reason && tn.Status.EffectivePlan == plan
		return ok, fmt.Sprintf("Ready %s/%s %q, effectivePlan %q", c.Status, c.Reason, c.Message, tn.Status.EffectivePlan)
	}
}

func (h *tnHarness) waitNamespace(name, what string, cond func(*corev1.Namespace) (bool, string)) *corev1.Namespace {
	h.t.Helper()
	var ns *corev1.Namespace
	wfEventually(h.t, fmt.Sprintf("namespace %s: %s", name, what), func() (bool, string) {
		ns = &corev1.Namespace{}
		if err := h.c.Get(h.ctx, client.ObjectKey{Name: name}, ns); err != nil {
			return false, err.Error()
		}
		return cond(ns)
	})
	return ns
}

func ownedBy(refs []metav1.OwnerReference, tn *aiasv1alpha1.Tenant) bool {
	return slices.ContainsFunc(refs, func(r metav1.OwnerReference) bool { return r.UID == tn.UID && r.Kind == "Tenant" })
}

func TestTenantNamespaceCreatedAndLabelled(t *testing.T) {
	plan := tnName("tn-free")
	h := startTenantController(t, func(r *TenantReconciler) { r.DefaultPlan = plan })
	h.createPlan(plan)
	name := tnName("tn-ns")
	h.createTenant(name, aiasv1alpha1.TenantSpec{})
	tn := h.waitTenant(name, "Ready", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, plan))
	if tn.Status.Namespace != name || tn.Spec.DeletionPolicy != aiasv1alpha1.DeletionRetain {
		t.Errorf("status.namespace %q, deletionPolicy %q", tn.Status.Namespace, tn.Spec.DeletionPolicy)
	}
	ns := h.waitNamespace(name, "labelled", func(ns *corev1.Namespace) (bool, string) {
		l := ns.Labels
		return l[aiasv1alpha1.LabelTenant] == name && l[labelPodSecurityEnforce] == "restricted" && l[labelPodSecurityEnforceVersion] == "latest", fmt.Sprint(l)
	})
	if len(ns.OwnerReferences) != 0 {
		t.Errorf("Retain: namespace has owner references %v", ns.OwnerReferences)
	}

	// Delete: the namespace gets an owner reference (envtest has no GC; check only that).
	h.updateTenant(name, func(tn *aiasv1alpha1.Tenant) { tn.Spec.DeletionPolicy = aiasv1alpha1.DeletionDelete })
	h.waitNamespace(name, "owned by the Tenant", func(ns *corev1.Namespace) (bool, string) {
		return ownedBy(ns.OwnerReferences, tn), fmt.Sprint(ns.OwnerReferences)
	})
	// Back to Retain: the owner reference goes away.
	h.updateTenant(name, func(tn *aiasv1alpha1.Tenant) { tn.Spec.DeletionPolicy = aiasv1alpha1.DeletionRetain })
	h.waitNamespace(name, "not owned", func(ns *corev1.Namespace) (bool, string) {
		return len(ns.OwnerReferences) == 0, fmt.Sprint(ns.OwnerReferences)
	})
}

func TestTenantDeletePolicyOwnsNewNamespace(t *testing.T) {
	plan := tnName("tn-free")
	h := startTenantController(t, func(r *TenantReconciler) { r.DefaultPlan = plan })
	h.createPlan(plan)
	name := tnName("tn-del")
	h.createTenant(name, aiasv1alpha1.TenantSpec{DeletionPolicy: aiasv1alpha1.DeletionDelete})
	tn := h.waitTenant(name, "Ready", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, plan))
	ns := h.waitNamespace(name, "owned", func(ns *corev1.Namespace) (bool, string) {
		return ownedBy(ns.OwnerReferences, tn), fmt.Sprint(ns.OwnerReferences)
	})
	if len(ns.OwnerReferences) != 1 || ptr.Deref(ns.OwnerReferences[0].Controller, false) {
		t.Errorf("want one non-controller owner reference, got %+v", ns.OwnerReferences)
	}
}

func TestTenantAdoptsExistingNamespace(t *testing.T) {
	plan := tnName("tn-free")
	h := startTenantController(t, func(r *TenantReconciler) { r.DefaultPlan = plan })
	h.createPlan(plan)
	name := tnName("tn-adopt")
	existing := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		"team": "payments", labelPodSecurityEnforce: "baseline", "argocd.argoproj.io/instance": "tenants",
	}, OwnerReferences: []metav1.OwnerReference{
		// An earlier Tenant of the same name (deleted, recreated) and someone else's owner.
		{APIVersion: "aias.dev/v1alpha1", Kind: "Tenant", Name: name, UID: "0b5e1e7e-0000-4000-8000-000000000001"},
		{APIVersion: "example.com/v1", Kind: "Landlord", Name: "x", UID: "0b5e1e7e-0000-4000-8000-000000000002"},
	}}}
	if err := h.c.Create(h.ctx, existing); err != nil {
		t.Fatal(err)
	}
	h.createTenant(name, aiasv1alpha1.TenantSpec{})
	h.waitTenant(name, "Ready", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, plan))
	ns := h.waitNamespace(name, "labels merged", func(ns *corev1.Namespace) (bool, string) {
		l := ns.Labels
		return l[aiasv1alpha1.LabelTenant] == name && l[labelPodSecurityEnforce] == "restricted", fmt.Sprint(l)
	})
	if ns.Labels["team"] != "payments" || ns.Labels["argocd.argoproj.io/instance"] != "tenants" {
		t.Errorf("foreign labels lost: %v", ns.Labels)
	}
	if len(ns.OwnerReferences) != 1 || ns.OwnerReferences[0].Kind != "Landlord" {
		t.Errorf("Retain: adopted namespace should keep only the foreign owner reference, has %v", ns.OwnerReferences)
	}
}

// managedRoleBindings lists the controller's RoleBindings in ns, by subject kind/name.
func (h *tnHarness) managedRoleBindings(ns string) map[string]rbacv1.RoleBinding {
	h.t.Helper()
	var list rbacv1.RoleBindingList
	if err := h.c.List(h.ctx, &list, client.InNamespace(ns), client.MatchingLabels{aiasv1alpha1.LabelManagedBy: aiasv1alpha1.ManagedByAias}); err != nil {
		h.t.Fatalf("listing RoleBindings: %v", err)
	}
	out := map[string]rbacv1.RoleBinding{}
	for _, rb := range list.Items {
		if !rb.DeletionTimestamp.IsZero() {
			continue
		}
		for _, s := range rb.Subjects {
			out[s.Kind+"/"+s.Name] = rb
		}
	}
	return out
}

func describeBindings(m map[string]rbacv1.RoleBinding) string {
	var parts []string
	for k, rb := range m {
		parts = append(parts, k+"→"+rb.RoleRef.Name)
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func TestTenantRoleBindingsFollowMembers(t *testing.T) {
	plan := tnName("tn-free")
	h := startTenantController(t, func(r *TenantReconciler) { r.DefaultPlan = plan })
	h.createPlan(plan)
	name := tnName("tn-rb")
	h.createTenant(name, aiasv1alpha1.TenantSpec{Members: []aiasv1alpha1.TenantMember{
		{Kind: aiasv1alpha1.MemberUser, Name: "alice@example.com", Role: aiasv1alpha1.RoleViewer},
		{Kind: aiasv1alpha1.MemberGroup, Name: "devs", Role: aiasv1alpha1.RoleEditor},
		{Kind: aiasv1alpha1.MemberServiceAccount, Name: "ci", Role: aiasv1alpha1.RoleAdmin},
		{Kind: aiasv1alpha1.MemberServiceAccount, Name: "deployer", Namespace: "ops", Role: aiasv1alpha1.RoleOwner},
	}})
	tn := h.waitTenant(name, "Ready", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, plan))

	// A RoleBinding the controller does not manage is left alone.
	foreign := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: name, Name: "gitops-extra"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "view"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "auditor"}},
	}
	if err := h.c.Create(h.ctx, foreign); err != nil {
		t.Fatal(err)
	}

	var rbs map[string]rbacv1.RoleBinding
	wfEventually(t, "four RoleBindings", func() (bool, string) {
		rbs = h.managedRoleBindings(name)
		return len(rbs) == 4, describeBindings(rbs)
	})
	want := map[string]struct {
		role string
		subj rbacv1.Subject
	}{
		"User/alice@example.com":  {"aias-viewer", rbacv1.Subject{Kind: "User", APIGroup: rbacv1.GroupName, Name: "alice@example.com"}},
		"Group/devs":              {"aias-editor", rbacv1.Subject{Kind: "Group", APIGroup: rbacv1.GroupName, Name: "devs"}},
		"ServiceAccount/ci":       {"aias-admin", rbacv1.Subject{Kind: "ServiceAccount", Name: "ci", Namespace: name}},
		"ServiceAccount/deployer": {"aias-owner", rbacv1.Subject{Kind: "ServiceAccount", Name: "deployer", Namespace: "ops"}},
	}
	for key, w := range want {
		rb, ok := rbs[key]
		if !ok {
			t.Errorf("no RoleBinding for %s", key)
			continue
		}
		if rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: w.role}) {
			t.Errorf("%s: roleRef %+v", key, rb.RoleRef)
		}
		if !equality.Semantic.DeepEqual(rb.Subjects, []rbacv1.Subject{w.subj}) {
			t.Errorf("%s: subjects %+v", key, rb.Subjects)
		}
		if rb.Labels[aiasv1alpha1.LabelTenant] != name || !metav1.IsControlledBy(&rb, tn) || len(rb.Name) > 63 || !strings.HasPrefix(rb.Name, w.role+"-") {
			t.Errorf("%s: name %s labels %v owners %v", key, rb.Name, rb.Labels, rb.OwnerReferences)
		}
	}
	aliceViewer := rbs["User/alice@example.com"].Name

	// alice becomes an editor, the group leaves.
	h.updateTenant(name, func(tn *aiasv1alpha1.Tenant) {
		tn.Spec.Members = []aiasv1alpha1.TenantMember{
			{Kind: aiasv1alpha1.MemberUser, Name: "alice@example.com", Role: aiasv1alpha1.RoleEditor},
			{Kind: aiasv1alpha1.MemberServiceAccount, Name: "ci", Role: aiasv1alpha1.RoleAdmin},
			{Kind: aiasv1alpha1.MemberServiceAccount, Name: "deployer", Namespace: "ops", Role: aiasv1alpha1.RoleOwner},
		}
	})
	wfEventually(t, "RoleBindings after the change", func() (bool, string) {
		rbs = h.managedRoleBindings(name)
		_, group := rbs["Group/devs"]
		return len(rbs) == 3 && !group && rbs["User/alice@example.com"].RoleRef.Name == "aias-editor", describeBindings(rbs)
	})
	if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: name, Name: aliceViewer}, &rbacv1.RoleBinding{}); !apierrors.IsNotFound(err) {
		t.Errorf("alice's viewer RoleBinding %s: want NotFound, got %v", aliceViewer, err)
	}
	if err := h.c.Get(h.ctx, client.ObjectKeyFromObject(foreign), &rbacv1.RoleBinding{}); err != nil {
		t.Errorf("foreign RoleBinding: %v", err)
	}

	// Someone deletes a managed binding: it comes back.
	ci := rbs["ServiceAccount/ci"]
	if err := h.c.Delete(h.ctx, &ci); err != nil {
		t.Fatal(err)
	}
	wfEventually(t, "deleted RoleBinding restored", func() (bool, string) {
		rb := &rbacv1.RoleBinding{}
		err := h.c.Get(h.ctx, client.ObjectKey{Namespace: name, Name: ci.Name}, rb)
		return err == nil && rb.UID != ci.UID, fmt.Sprint(err)
	})
}

func TestTenantEffectivePlan(t *testing.T) {
	def, gold, pro := tnName("tn-default"), tnName("tn-gold"), tnName("tn-pro")
	price := "price_" + utilrand.String(10)
	h := startTenantController(t, func(r *TenantReconciler) { r.DefaultPlan = def })
	name := tnName("tn-plan")
	h.createTenant(name, aiasv1alpha1.TenantSpec{Plan: gold})

	tn := h.waitTenant(name, "Ready=False: no plan", tenantReady(metav1.ConditionFalse, aiasv1alpha1.ReasonPlanNotFound, ""))
	if c := meta.FindStatusCondition(tn.Status.Conditions, aiasv1alpha1.ConditionReady); !strings.Contains(c.Message, gold) {
		t.Errorf("Ready message %q does not name Plan %s", c.Message, gold)
	}
	// The namespace is made even while the plan is missing.
	h.waitNamespace(name, "created", func(*corev1.Namespace) (bool, string) { return true, "" })

	h.createPlan(def)
	h.waitTenant(name, "default plan", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, def))
	h.createPlan(gold)
	h.waitTenant(name, "spec plan", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, gold))
	h.createPlan(pro, price)

	// The billing webhook writes an active subscription: its price selects the plan.
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &aiasv1alpha1.Tenant{}
		if err := h.c.Get(h.ctx, client.ObjectKey{Name: name}, cur); err != nil {
			return err
		}
		cur.Status.Subscription = &aiasv1alpha1.SubscriptionStatus{ID: "sub_1", Status: "active", PriceID: price}
		return h.c.Status().Update(h.ctx, cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.waitTenant(name, "subscription plan", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, pro))

}

func TestTenantMissingPlanWithoutDefault(t *testing.T) {
	h := startTenantController(t, nil)
	name := tnName("tn-nodef")
	missing := tnName("tn-missing")
	h.createTenant(name, aiasv1alpha1.TenantSpec{Plan: missing})
	tn := h.waitTenant(name, "Ready=False", tenantReady(metav1.ConditionFalse, aiasv1alpha1.ReasonPlanNotFound, ""))
	if c := meta.FindStatusCondition(tn.Status.Conditions, aiasv1alpha1.ConditionReady); !strings.Contains(c.Message, missing) {
		t.Errorf("Ready message %q does not name the missing Plan %s", c.Message, missing)
	}
	h.waitTenantEvent(name, corev1.EventTypeWarning, aiasv1alpha1.ReasonPlanNotFound, missing)
	h.createPlan(missing)
	h.waitTenant(name, "Ready once the Plan exists", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, missing))
	h.waitTenantEvent(name, corev1.EventTypeNormal, aiasv1alpha1.ReasonReady)
	// Events on transitions only: one warning however often the Tenant was reconciled.
	if evs := h.tenantEvents(name, aiasv1alpha1.ReasonPlanNotFound); len(evs) != 1 || eventCount(evs[0]) != 1 {
		t.Errorf("want one PlanNotFound event, got %v", eventMessages(evs))
	}
}

// tenantEvents lists the Events about the named Tenant with the given reason (events
// about cluster-scoped objects land in the default namespace).
func (h *tnHarness) tenantEvents(tenant, reason string) []corev1.Event {
	h.t.Helper()
	var list corev1.EventList
	if err := h.c.List(h.ctx, &list); err != nil {
		h.t.Fatalf("listing Events: %v", err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Tenant" && e.InvolvedObject.Name == tenant && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

func (h *tnHarness) waitTenantEvent(tenant, eventType, reason string, parts ...string) {
	h.t.Helper()
	wfEventually(h.t, fmt.Sprintf("%s event %s about Tenant %s mentioning %q", eventType, reason, tenant, parts), func() (bool, string) {
		evs := h.tenantEvents(tenant, reason)
		for _, e := range evs {
			if e.Type == eventType && containsAll(e.Message, parts...) {
				return true, ""
			}
		}
		return false, fmt.Sprint(eventMessages(evs))
	})
}

// TestTenantPastDueGrace: a past_due subscription keeps its plan through the grace period,
// then the Tenant falls back to spec.plan without any further event to wake it.
func TestTenantPastDueGrace(t *testing.T) {
	free, pro := tnName("tn-free"), tnName("tn-pro")
	price := "price_" + utilrand.String(10)
	h := startTenantController(t, func(r *TenantReconciler) { r.PastDueGrace = 2 * time.Second })
	h.createPlan(free)
	h.createPlan(pro, price)
	name := tnName("tn-pastdue")
	h.createTenant(name, aiasv1alpha1.TenantSpec{Plan: free})
	h.waitTenant(name, "spec plan", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, free))
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		cur := &aiasv1alpha1.Tenant{}
		if err := h.c.Get(h.ctx, client.ObjectKey{Name: name}, cur); err != nil {
			return err
		}
		cur.Status.Subscription = &aiasv1alpha1.SubscriptionStatus{
			ID: "sub_1", Status: "past_due", PriceID: price, PastDueSince: ptr.To(metav1.Now()),
		}
		return h.c.Status().Update(h.ctx, cur)
	})
	if err != nil {
		t.Fatal(err)
	}
	h.waitTenant(name, "subscription plan in grace", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, pro))
	h.waitTenant(name, "spec plan after the grace", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, free))
	h.waitTenantEvent(name, corev1.EventTypeNormal, aiasv1alpha1.ReasonPlanChanged, pro, free)
}

func TestTenantRolesChartMatchesKustomize(t *testing.T) {
	kust, err := fixtures.ReadClusterRoles(fixtures.TenantRolesFile(), false)
	if err != nil {
		t.Fatal(err)
	}
	chart, err := fixtures.ReadClusterRoles(filepath.Join(testenv.RepoRoot(), "charts", "aias", "templates", "tenant-roles.yaml"), true)
	if err != nil {
		t.Fatal(err)
	}
	if len(kust) != 4 || len(chart) != len(kust) {
		t.Fatalf("%d roles in config/rbac, %d in the chart", len(kust), len(chart))
	}
	for i := range kust {
		want := TenantClusterRole([]aiasv1alpha1.MemberRole{aiasv1alpha1.RoleViewer, aiasv1alpha1.RoleEditor, aiasv1alpha1.RoleAdmin, aiasv1alpha1.RoleOwner}[i])
		if kust[i].Name != want || chart[i].Name != want {
			t.Errorf("role %d: config/rbac %s, chart %s, want %s", i, kust[i].Name, chart[i].Name, want)
		}
		if !equality.Semantic.DeepEqual(kust[i].Rules, chart[i].Rules) {
			t.Errorf("%s: rules differ between config/rbac and the chart", kust[i].Name)
		}
	}
	// Each role includes every rule of the role below it.
	for i := 1; i < len(kust); i++ {
		for _, rule := range kust[i-1].Rules {
			if !slices.ContainsFunc(kust[i].Rules, func(r rbacv1.PolicyRule) bool { return equality.Semantic.DeepEqual(r, rule) }) {
				t.Errorf("%s lacks rule %+v of %s", kust[i].Name, rule, kust[i-1].Name)
			}
		}
	}
}

// TestTenantRolesSubjectAccessReview checks what the members' RoleBindings allow, asking the
// envtest apiserver's RBAC authorizer with SubjectAccessReviews.
func TestTenantRolesSubjectAccessReview(t *testing.T) {
	if _, err := fixtures.ApplyTenantRoles(context.Background(), testEnv); err != nil {
		t.Fatal(err)
	}
	plan := tnName("tn-free")
	h := startTenantController(t, func(r *TenantReconciler) { r.DefaultPlan = plan })
	h.createPlan(plan)
	name := tnName("tn-sar")
	viewer, editor, admin, owner := "viewer-"+name, "editor-"+name, "admin-"+name, "owner-"+name
	h.createTenant(name, aiasv1alpha1.TenantSpec{Members: []aiasv1alpha1.TenantMember{
		{Kind: aiasv1alpha1.MemberUser, Name: viewer, Role: aiasv1alpha1.RoleViewer},
		{Kind: aiasv1alpha1.MemberUser, Name: editor, Role: aiasv1alpha1.RoleEditor},
		{Kind: aiasv1alpha1.MemberUser, Name: admin, Role: aiasv1alpha1.RoleAdmin},
		{Kind: aiasv1alpha1.MemberUser, Name: owner, Role: aiasv1alpha1.RoleOwner},
	}})
	h.waitTenant(name, "Ready", tenantReady(metav1.ConditionTrue, aiasv1alpha1.ReasonReady, plan))
	other := tnName("tn-other") // a namespace of nobody's

	type check struct {
		user, ns, verb, group, resource, sub string
		allowed                              bool
	}
	checks := []check{
		{viewer, name, "list", "aias.dev", "runs", "", true},
		{viewer, name, "get", "aias.dev", "runs", "logs", true},
		{viewer, name, "get", "aias.dev", "runs", "artifacts", true},
		{viewer, name, "create", "aias.dev", "workflows", "", false},
		{viewer, name, "create", "aias.dev", "runs", "cancel", false},
		{viewer, other, "list", "aias.dev", "runs", "", false},
		{editor, name, "create", "aias.dev", "workflows", "", true},
		{editor, name, "delete", "aias.dev", "webhookendpoints", "", true},
		{editor, name, "create", "aias.dev", "runs", "replay", true},
		{editor, name, "get", "", "secrets", "", false},
		{editor, other, "create", "aias.dev", "workflows", "", false},
		{admin, name, "create", "", "secrets", "", true},
		{admin, name, "create", "rbac.authorization.k8s.io", "rolebindings", "", false},
		{admin, name, "update", "aias.dev", "tenants", "billing", false},
		{owner, name, "update", "aias.dev", "tenants", "billing", true},
		{owner, name, "list", "aias.dev", "runs", "", true},
		{owner, name, "update", "aias.dev", "workflows", "status", false},
	}
	for _, c := range checks {
		desc := fmt.Sprintf("%s %s %s/%s/%s in %s", strings.SplitN(c.user, "-", 2)[0], c.verb, c.group, c.resource, c.sub, c.ns)
		wfEventually(t, desc+fmt.Sprintf(" allowed=%v", c.allowed), func() (bool, string) {
			sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
				User: c.user,
				ResourceAttributes: &authorizationv1.ResourceAttributes{
					Namespace: c.ns, Verb: c.verb, Group: c.group, Resource: c.resource, Subresource: c.sub,
				},
			}}
			if err := h.c.Create(h.ctx, sar); err != nil {
				return false, err.Error()
			}
			return sar.Status.Allowed == c.allowed, fmt.Sprintf("allowed=%v reason=%q", sar.Status.Allowed, sar.Status.Reason)
		})
	}
}

// status.usage counts the tenant's Workflows and the Runs the Run controller claimed this
// period, and follows new objects without waiting for a resync.
func TestTenantUsage(t *testing.T) {
	h := startTenantControllers(t, nil, func(r *TenantUsageReconciler) { r.Store = testStore; r.Interval = -1 })
	name := tnName("usage")
	h.createPlan(name + "-plan")
	h.createTenant(name, aiasv1alpha1.TenantSpec{Plan: name + "-plan"})
	tenant := h.waitTenant(name, "usage reported", func(tn *aiasv1alpha1.Tenant) (bool, string) {
		return tn.Status.Usage != nil && tn.Status.Usage.PeriodStart != nil, fmt.Sprintf("%+v", tn.Status.Usage)
	})
	period := time.Date(time.Now().UTC().Year(), time.Now().UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	for _, uid := range []string{testRunUID(), testRunUID()} {
		if _, _, err := testStore.ClaimRun(h.ctx, store.RunClaim{RunUID: uid, TenantUID: string(tenant.UID), PeriodStart: period, Limit: -1}); err != nil {
			t.Fatal(err)
		}
	}
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Name: "w", Namespace: name},
		Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{Name: "s", Image: "busybox", Command: []string{"true"}}}}}
	if err := h.c.Create(h.ctx, wf); err != nil {
		t.Fatal(err)
	}
	h.waitTenant(name, "usage with the workflow and the claimed runs", func(tn *aiasv1alpha1.Tenant) (bool, string) {
		u := tn.Status.Usage
		return u != nil && u.Workflows == 1 && u.RunsThisPeriod == 2 && u.PeriodStart.Time.Equal(period), fmt.Sprintf("%+v", u)
	})

	// A downgrade below what exists: nothing breaks, the status says why.
	tight := name + "-tight"
	if err := h.c.Create(h.ctx, &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: tight},
		Spec: aiasv1alpha1.PlanSpec{Limits: aiasv1alpha1.PlanLimits{Workflows: ptr.To[int32](0)}}}); err != nil {
		t.Fatal(err)
	}
	h.updateTenant(name, func(tn *aiasv1alpha1.Tenant) { tn.Spec.Plan = tight })
	h.waitTenant(name, "the over-limit condition", func(tn *aiasv1alpha1.Tenant) (bool, string) {
		c := meta.FindStatusCondition(tn.Status.Conditions, aiasv1alpha1.ConditionWithinLimits)
		return c != nil && c.Status == metav1.ConditionFalse && strings.Contains(c.Message, "1 Workflows (the plan allows 0)"), fmt.Sprintf("%+v", c)
	})
}

// The billing period rolls over on the clock: runs this period start again from zero.
func TestTenantUsagePeriodRollover(t *testing.T) {
	var offset atomic.Int64
	h := startTenantControllers(t, nil, func(r *TenantUsageReconciler) {
		r.Store, r.Interval = testStore, -1
		r.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	name := tnName("rollover")
	h.createPlan(name + "-plan")
	h.createTenant(name, aiasv1alpha1.TenantSpec{Plan: name + "-plan"})
	now := time.Now().UTC()
	period := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	if _, _, err := testStore.ClaimRun(h.ctx, store.RunClaim{RunUID: testRunUID(), TenantUID: string(h.tenantUID(name)), PeriodStart: period, Limit: -1}); err != nil {
		t.Fatal(err)
	}
	h.updateTenant(name, func(tn *aiasv1alpha1.Tenant) { tn.Spec.DisplayName = "now" })
	h.waitTenant(name, "one run this period", func(tn *aiasv1alpha1.Tenant) (bool, string) {
		return tn.Status.Usage != nil && tn.Status.Usage.RunsThisPeriod == 1, fmt.Sprintf("%+v", tn.Status.Usage)
	})
	offset.Store(int64(period.AddDate(0, 1, 0).Sub(now) + time.Hour)) // an hour into next month
	h.updateTenant(name, func(tn *aiasv1alpha1.Tenant) { tn.Spec.DisplayName = "next month" })
	h.waitTenant(name, "a fresh period", func(tn *aiasv1alpha1.Tenant) (bool, string) {
		u := tn.Status.Usage
		return u != nil && u.RunsThisPeriod == 0 && u.PeriodStart.Time.Equal(period.AddDate(0, 1, 0)), fmt.Sprintf("%+v", u)
	})
}

var testRunUIDs atomic.Int64

// testRunUID is a fresh run UID, so claims repeat cleanly under go test -count=N.
func testRunUID() string {
	return fmt.Sprintf("7e57a11d-%04x-4000-8000-%012x", testRunUIDs.Add(1)&0xffff, time.Now().UnixNano()&0xffffffffffff)
}
