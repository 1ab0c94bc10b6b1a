package controllers

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/store"
)

// TenantEventRecorderName is the reporting controller of the Tenant controller's events.
const TenantEventRecorderName = "aias-tenant-controller"

// The Pod Security labels the Tenant controller puts on its namespace, beside
// aiasv1alpha1.LabelTenant and LabelManagedBy.
const (
	labelPodSecurityEnforce        = "pod-security.kubernetes.io/enforce"
	labelPodSecurityEnforceVersion = "pod-security.kubernetes.io/enforce-version"
)

// TenantReconciler keeps a Tenant's namespace, its members' RoleBindings and the
// namespace's LimitRange and NetworkPolicy in place and reports the Plan in force. It
// writes the Tenant's status only (not status.usage nor the WithinLimits condition:
// TenantUsageReconciler counts those), and its finalizer.
//
// Deleting a Tenant runs its finalizer (aias.dev/tenant-cleanup, tenant_cleanup.go),
// which deletes what PostgreSQL keeps for it. The RoleBindings are owned by the Tenant,
// and the Namespace is owned by it only under deletionPolicy Delete, so the garbage
// collector does the rest; under Retain the Namespace carries no owner reference and stays.
type TenantReconciler struct {
	client.Client
	Scheme *runtime.Scheme
	// Recorder emits events about Tenants; SetupWithManager fills it in when nil.
	Recorder events.EventRecorder
	// DefaultPlan is the Plan of tenants whose subscription and spec.plan select none.
	DefaultPlan string
	// PastDueGrace is how long a past_due subscription keeps its plan.
	PastDueGrace time.Duration
	// Store holds the Tenant's run claims, usage counters and billing state, deleted with
	// it; nil leaves them and adds no finalizer.
	Store *store.Store
	// ContainerDefaults, when set, are kept in every tenant namespace as the LimitRange
	// aias-defaults (tenant_limitrange.go); nil removes it.
	ContainerDefaults *ContainerDefaults
	// IsolateNetwork keeps the NetworkPolicy aias-tenant-isolation in every tenant
	// namespace (tenant_networkpolicy.go); false removes it.
	IsolateNetwork bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// +kubebuilder:rbac:groups=aias.dev,resources=tenants,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=aias.dev,resources=tenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=aias.dev,resources=tenants/finalizers,verbs=update
// +kubebuilder:rbac:groups=aias.dev,resources=plans,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=namespaces,verbs=get;list;watch;create;update;patch
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=rolebindings,verbs=get;list;watch;create;update;patch;delete
// +kubebuilder:rbac:groups=rbac.authorization.k8s.io,resources=clusterroles,verbs=bind,resourceNames=aias-owner;aias-admin;aias-editor;aias-viewer
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller: Tenants, their RoleBindings, LimitRange,
// NetworkPolicy and Namespaces,
// and every Plan (a Plan change can change any tenant's effective plan; Plans are few).
func (r *TenantReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Scheme == nil {
		r.Scheme = mgr.GetScheme()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder(TenantEventRecorderName)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&aiasv1alpha1.Tenant{}, builder.WithPredicates(tenantChanged)).
		Owns(&rbacv1.RoleBinding{}).
		Owns(&corev1.LimitRange{}).
		Owns(&networkingv1.NetworkPolicy{}).
		Watches(&corev1.Namespace{}, handler.EnqueueRequestsFromMapFunc(tenantOfNamespace)).
		// A Plan's status (its tenant count) matters to no Tenant: spec changes only.
		Watches(&aiasv1alpha1.Plan{}, handler.EnqueueRequestsFromMapFunc(allTenants(r.Client)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Named("tenant").
		Complete(r)
}

// tenantChanged skips the updates our own status patches cause, but lets through the
// subscription that the billing webhook writes into the status.
var tenantChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*aiasv1alpha1.Tenant)
		n, ok2 := e.ObjectNew.(*aiasv1alpha1.Tenant)
		if !ok1 || !ok2 {
			return true
		}
		return o.Generation != n.Generation ||
			!o.DeletionTimestamp.Equal(n.DeletionTimestamp) ||
			!equality.Semantic.DeepEqual(o.Status.Subscription, n.Status.Subscription)
	},
}

// tenantOfNamespace maps a Namespace to its Tenant: the one its label names, and the one
// of the same name (which finds a namespace whose label was removed).
func tenantOfNamespace(_ context.Context, o client.Object) []reconcile.Request {
	reqs := []reconcile.Request{{NamespacedName: types.NamespacedName{Name: o.GetName()}}}
	if t := o.GetLabels()[aiasv1alpha1.LabelTenant]; t != "" && t != o.GetName() {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: t}})
	}
	return reqs
}

// allTenants maps any event (a Plan's) to every Tenant: a Plan change can change any
// tenant's effective plan; Plans are few.
func allTenants(c client.Reader) handler.MapFunc {
	return func(ctx context.Context, _ client.Object) []reconcile.Request {
		var tenants aiasv1alpha1.TenantList
		if err := c.List(ctx, &tenants, client.UnsafeDisableDeepCopy); err != nil {
			log.FromContext(ctx).Error(err, "listing Tenants for a Plan change")
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(tenants.Items))
		for i := range tenants.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Name: tenants.Items[i].Name}})
		}
		return reqs
	}
}

// Reconcile brings one Tenant's namespace, RoleBindings and status up to date.
func (r *TenantReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	t := &aiasv1alpha1.Tenant{}
	if err := r.Get(ctx, req.NamespacedName, t); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !t.DeletionTimestamp.IsZero() {
		// The garbage collector removes what the Tenant owns in the cluster; the
		// finalizer, what the store keeps for it.
		return ctrl.Result{}, r.cleanUpTenant(ctx, t)
	}
	before := t.DeepCopy()
	defer func() {
		err := r.patchStatus(ctx, before, t)
		if err == nil {
			// After the namespace and status, which users wait for.
			err = r.ensureTenantStore(ctx, t)
		}
		settleStatusWrite(ctx, err, &result, &retErr)
	}()

	t.Status.ObservedGeneration = t.Generation

	requeue, planProblem, err := r.reconcilePlan(ctx, t)
	if err != nil {
		return ctrl.Result{}, err
	}
	nsProblem, err := r.reconcileNamespace(ctx, t)
	if err != nil {
		return ctrl.Result{}, err
	}
	rbProblem := ""
	if nsProblem == nil {
		if rbProblem, err = r.reconcileRoleBindings(ctx, t); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.reconcileLimitRange(ctx, t); err != nil {
			return ctrl.Result{}, err
		}
		if err := r.reconcileNetworkPolicy(ctx, t); err != nil {
			return ctrl.Result{}, err
		}
	}

	r.setReady(t, planProblem, nsProblem, rbProblem)
	return ctrl.Result{RequeueAfter: requeue}, nil
}

type tenantProblem struct{ reason, message string }

// setReady sets the Ready condition from the problems found, the namespace's first:
// without a namespace nothing else can be right.
func (r *TenantReconciler) setReady(t *aiasv1alpha1.Tenant, planProblem, nsProblem *tenantProblem, rbProblem string) {
	switch {
	case nsProblem != nil:
		setTenantReady(t, metav1.ConditionFalse, nsProblem.reason, nsProblem.message, r.now())
	case planProblem != nil:
		setTenantReady(t, metav1.ConditionFalse, planProblem.reason, planProblem.message, r.now())
	case rbProblem != "":
		setTenantReady(t, metav1.ConditionFalse, aiasv1alpha1.ReasonRoleBindingConflict, rbProblem, r.now())
	default:
		setTenantReady(t, metav1.ConditionTrue, aiasv1alpha1.ReasonReady,
			fmt.Sprintf("namespace %s ready, plan %s", t.Name, t.Status.EffectivePlan), r.now())
	}
}

// reconcilePlan sets status.effectivePlan. It returns when to look again (a past_due
// grace period ending) and a problem when no existing Plan applies.
func (r *TenantReconciler) reconcilePlan(ctx context.Context, t *aiasv1alpha1.Tenant) (time.Duration, *tenantProblem, error) {
	var plans aiasv1alpha1.PlanList
	if err := r.List(ctx, &plans); err != nil {
		return 0, nil, fmt.Errorf("listing Plans: %w", err)
	}
	now := r.now()
	plan, reason := entitlements.EffectivePlan(t, plans.Items, r.DefaultPlan, now, r.PastDueGrace)
	var requeue time.Duration
	if sub := t.Status.Subscription; reason == entitlements.ReasonPastDueGrace && sub != nil && sub.PastDueSince != nil {
		requeue = sub.PastDueSince.Add(r.PastDueGrace).Sub(now) + time.Second
	}
	var problem *tenantProblem
	if reason == entitlements.ReasonDefault && !planListed(plans.Items, plan) {
		var msg string
		switch {
		case t.Spec.Plan != "" && plan == "":
			msg = fmt.Sprintf("Plan %q not found and no default plan is configured", t.Spec.Plan)
		case t.Spec.Plan != "":
			msg = fmt.Sprintf("Plan %q not found, nor the default Plan %q", t.Spec.Plan, plan)
		case plan == "":
			msg = "spec.plan is empty and no default plan is configured"
		default:
			msg = fmt.Sprintf("default Plan %q not found", plan)
		}
		problem = &tenantProblem{aiasv1alpha1.ReasonPlanNotFound, msg}
		plan = ""
	}
	if old := t.Status.EffectivePlan; old != plan && old != "" && plan != "" {
		r.Recorder.Eventf(t, nil, corev1.EventTypeNormal, aiasv1alpha1.ReasonPlanChanged, "SelectPlan", "effective plan changed from %s to %s (%s)", old, plan, reason)
	}
	t.Status.EffectivePlan = plan
	return requeue, problem, nil
}

func planListed(plans []aiasv1alpha1.Plan, name string) bool {
	for i := range plans {
		if name != "" && plans[i].Name == name {
			return true
		}
	}
	return false
}

// reconcileNamespace creates the tenant namespace or adopts an existing one: it adds the
// tenant and pod-security labels (never removing others) and keeps the owner reference to
// the Tenant exactly when deletionPolicy is Delete.
func (r *TenantReconciler) reconcileNamespace(ctx context.Context, t *aiasv1alpha1.Tenant) (*tenantProblem, error) {
	ns := &corev1.Namespace{}
	err := r.Get(ctx, types.NamespacedName{Name: t.Name}, ns)
	switch {
	case apierrors.IsNotFound(err):
		ns = &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: t.Name}}
		r.setNamespaceMeta(t, ns)
		if err := r.Create(ctx, ns); err != nil {
			return nil, fmt.Errorf("creating namespace %s: %w", t.Name, err)
		}
		r.Recorder.Eventf(t, ns, corev1.EventTypeNormal, aiasv1alpha1.ReasonNamespaceCreated, "CreateNamespace", "created namespace %s", ns.Name)
		t.Status.Namespace = ns.Name
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("getting namespace %s: %w", t.Name, err)
	}
	if !ns.DeletionTimestamp.IsZero() {
		return &tenantProblem{aiasv1alpha1.ReasonNamespaceTerminating, fmt.Sprintf("namespace %s is being deleted", ns.Name)}, nil
	}
	orig := ns.DeepCopy()
	adopting := ns.Labels[aiasv1alpha1.LabelTenant] != t.Name
	r.setNamespaceMeta(t, ns)
	if !equality.Semantic.DeepEqual(orig.ObjectMeta, ns.ObjectMeta) {
		patch := client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})
		if err := r.Patch(ctx, ns, patch); err != nil {
			return nil, fmt.Errorf("labelling namespace %s: %w", ns.Name, err)
		}
		if adopting {
			r.Recorder.Eventf(t, ns, corev1.EventTypeNormal, aiasv1alpha1.ReasonNamespaceAdopted, "AdoptNamespace", "adopted existing namespace %s", ns.Name)
		}
	}
	t.Status.Namespace = ns.Name
	return nil, nil
}

func (r *TenantReconciler) setNamespaceMeta(t *aiasv1alpha1.Tenant, ns *corev1.Namespace) {
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	ns.Labels[aiasv1alpha1.LabelTenant] = t.Name
	ns.Labels[labelPodSecurityEnforce] = "restricted"
	ns.Labels[labelPodSecurityEnforceVersion] = "latest"

	refs := make([]metav1.OwnerReference, 0, len(ns.OwnerReferences)+1)
	for _, ref := range ns.OwnerReferences {
		// Drop ours, and a reference to an earlier Tenant of the same name (deleted and
		// recreated): left in place, the garbage collector would delete the namespace.
		if ref.UID == t.UID || (ref.Kind == "Tenant" && ref.Name == t.Name && isAiasGroupVersion(ref.APIVersion)) {
			continue
		}
		refs = append(refs, ref)
	}
	if t.Spec.DeletionPolicy == aiasv1alpha1.DeletionDelete {
		refs = append(refs, metav1.OwnerReference{
			APIVersion: aiasv1alpha1.GroupVersion.String(), Kind: "Tenant", Name: t.Name, UID: t.UID,
		})
	}
	if len(refs) == 0 {
		refs = nil
	}
	ns.OwnerReferences = refs
}

func isAiasGroupVersion(apiVersion string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && gv.Group == aiasv1alpha1.GroupVersion.Group
}

func (r *TenantReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// patchStatus writes the status when it changed, and then records the Ready transition.
func (r *TenantReconciler) patchStatus(ctx context.Context, before, t *aiasv1alpha1.Tenant) error {
	return patchReadyStatus(ctx, r.Client, r.Recorder, "Tenant", "Reconcile", before, t, func(t *aiasv1alpha1.Tenant) readyStatus {
		return readyStatus{t.Status, t.Status.Conditions}
	})
}
