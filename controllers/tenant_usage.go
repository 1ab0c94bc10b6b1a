package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/conditions"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/store"
)

// DefaultUsageInterval bounds how often a Tenant's status is rewritten for usage alone:
// a busy tenant starts and ends Runs many times a second.
const DefaultUsageInterval = 5 * time.Second

// usageRefresh is how often a Tenant's usage is counted again without an event.
const usageRefresh = time.Minute

// TenantUsageEventRecorderName is the reporting controller of the usage controller's events.
const TenantUsageEventRecorderName = "aias-tenant-usage-controller"

// tenantUsage is exported per tenant for Prometheus (gauges, set at each reconcile).
var tenantUsage = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "aias_tenant_usage",
	Help: "What each tenant uses against its plan: workflows, webhook_endpoints, active_runs, runs_this_period.",
}, []string{"tenant", "plan", "resource"})

// TenantUsageReconciler reports what a tenant uses against its plan: status.usage
// (Workflows and WebhookEndpoints in its namespace and active Runs, from the cache; Runs
// started this billing period, from the store, where the Run controller counts them),
// the WithinLimits condition, and the aias_tenant_usage gauges. It owns only those
// fields of the Tenant's status; the TenantReconciler owns the rest. Both patch with the
// optimistic lock, so neither overwrites what the other just wrote.
type TenantUsageReconciler struct {
	client.Client
	// Recorder emits events about Tenants; SetupWithManager fills it in when nil.
	Recorder events.EventRecorder
	// Store holds the Runs counted this billing period; nil leaves them 0.
	Store *store.Store
	// DefaultPlan and PastDueGrace resolve the plan usage is held against, by
	// internal/entitlements (as the Run controller and admission do).
	DefaultPlan  string
	PastDueGrace time.Duration
	// Interval is the least time between status writes that change only usage counters;
	// zero means DefaultUsageInterval, negative means no holding back.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	writes writeThrottle
}

// +kubebuilder:rbac:groups=aias.dev,resources=tenants,verbs=get;list;watch
// +kubebuilder:rbac:groups=aias.dev,resources=tenants/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=aias.dev,resources=plans,verbs=get;list;watch
// +kubebuilder:rbac:groups=aias.dev,resources=workflows;webhookendpoints;runs,verbs=get;list;watch

// SetupWithManager registers the controller: Tenants (a subscription moves the billing
// period and may change the plan), Plans (their limits), and the objects usage counts.
func (r *TenantUsageReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder(TenantUsageEventRecorderName)
	}
	return ctrl.NewControllerManagedBy(mgr).
		For(&aiasv1alpha1.Tenant{}, builder.WithPredicates(tenantChanged)).
		Watches(&aiasv1alpha1.Plan{}, handler.EnqueueRequestsFromMapFunc(allTenants(r.Client)),
			builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&aiasv1alpha1.Workflow{}, handler.EnqueueRequestsFromMapFunc(tenantOfObject), builder.WithPredicates(usageChanged)).
		Watches(&aiasv1alpha1.WebhookEndpoint{}, handler.EnqueueRequestsFromMapFunc(tenantOfObject), builder.WithPredicates(usageChanged)).
		Watches(&aiasv1alpha1.Run{}, handler.EnqueueRequestsFromMapFunc(tenantOfObject), builder.WithPredicates(usageChanged)).
		Named("tenant-usage").
		Complete(r)
}

// Reconcile counts one tenant's usage and writes it, held back while only counters
// change and the last such write is recent.
func (r *TenantUsageReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	t := &aiasv1alpha1.Tenant{}
	if err := r.Get(ctx, req.NamespacedName, t); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !t.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil
	}
	before := t.DeepCopy()
	defer func() {
		if r.writes.holdBack(&result, t.Name, onlyUsageChanged(before, t), r.Interval, DefaultUsageInterval, r.now()) {
			return
		}
		err := r.patchStatus(ctx, before, t)
		if err == nil && !equality.Semantic.DeepEqual(before.Status.Usage, t.Status.Usage) {
			r.writes.wrote(t.Name, r.now())
		}
		settleStatusWrite(ctx, err, &result, &retErr)
	}()

	e, err := (&entitlements.Resolver{Reader: r.Client, DefaultPlan: r.DefaultPlan, PastDueGrace: r.PastDueGrace, Now: r.now}).ForTenant(ctx, t)
	if err != nil {
		return ctrl.Result{}, err
	}
	if err := r.count(ctx, t, e); err != nil {
		return ctrl.Result{}, err
	}
	reportOverLimits(t, e, r.now())
	// Look again when the billing period rolls over (runs this period start from 0), and
	// at least every usageRefresh: the delivery log's bytes change with deliveries that
	// touch no Kubernetes object (filtered ones, duplicates).
	next := t.Status.Usage.PeriodStart.AddDate(0, 1, 0).Sub(r.now())
	return ctrl.Result{RequeueAfter: min(max(next, 0), usageRefresh)}, nil
}

// count fills status.usage and the gauges.
func (r *TenantUsageReconciler) count(ctx context.Context, t *aiasv1alpha1.Tenant, e *entitlements.Entitlement) error {
	ns := client.InNamespace(t.Name)
	var wfs aiasv1alpha1.WorkflowList
	var eps aiasv1alpha1.WebhookEndpointList
	var runs aiasv1alpha1.RunList
	for _, l := range []client.ObjectList{&wfs, &eps, &runs} {
		if err := r.List(ctx, l, ns, client.UnsafeDisableDeepCopy); err != nil {
			return err
		}
	}
	active := int32(0)
	for i := range runs.Items {
		if runs.Items[i].Status.Phase == aiasv1alpha1.RunRunning {
			active++
		}
	}
	period := e.PeriodStart(r.now())
	var started, logBytes int64
	if r.Store != nil {
		n, err := r.Store.TenantRuns(ctx, string(t.UID), period)
		if err != nil {
			return fmt.Errorf("reading the tenant's run count: %w", err)
		}
		started = n
		if logBytes, err = r.Store.DeliveryLogBytes(ctx, t.Name); err != nil {
			return fmt.Errorf("reading the tenant's delivery log bytes: %w", err)
		}
	}
	start := metav1.NewTime(period)
	t.Status.Usage = &aiasv1alpha1.TenantUsage{
		Workflows: int32(len(wfs.Items)), WebhookEndpoints: int32(len(eps.Items)),
		RunsThisPeriod: started, ActiveRuns: active, PeriodStart: &start, DeliveryLogBytes: logBytes,
	}
	for res, v := range map[string]float64{"workflows": float64(len(wfs.Items)), "webhook_endpoints": float64(len(eps.Items)),
		"active_runs": float64(active), "runs_this_period": float64(started), "delivery_log_bytes": float64(logBytes)} {
		tenantUsage.WithLabelValues(t.Name, e.PlanName, res).Set(v)
	}
	return nil
}

// reportOverLimits sets WithinLimits from the usage against the plan in force (none
// without an existing Plan: the Tenant's Ready condition reports that).
func reportOverLimits(t *aiasv1alpha1.Tenant, e *entitlements.Entitlement, now time.Time) {
	if e.Plan == nil {
		conditions.Remove(t, aiasv1alpha1.ConditionWithinLimits)
		return
	}
	u, l := t.Status.Usage, e.Plan.Spec.Limits
	var over []string
	if l.Workflows != nil && u.Workflows > *l.Workflows {
		over = append(over, fmt.Sprintf("%d Workflows (the plan allows %d)", u.Workflows, *l.Workflows))
	}
	if l.WebhookEndpoints != nil && u.WebhookEndpoints > *l.WebhookEndpoints {
		over = append(over, fmt.Sprintf("%d WebhookEndpoints (the plan allows %d)", u.WebhookEndpoints, *l.WebhookEndpoints))
	}
	if l.RunsPerMonth != nil && u.RunsThisPeriod >= *l.RunsPerMonth {
		over = append(over, fmt.Sprintf("%d runs started this period (the plan allows %d)", u.RunsThisPeriod, *l.RunsPerMonth))
	}
	if l.DeliveryLogBytes != nil && u.DeliveryLogBytes > *l.DeliveryLogBytes {
		over = append(over, fmt.Sprintf("%d bytes of delivery bodies kept (the plan allows %d; the oldest go with the next delivery)", u.DeliveryLogBytes, *l.DeliveryLogBytes))
	}
	if len(over) > 0 {
		setTenantWithinLimits(t, metav1.ConditionFalse, aiasv1alpha1.ReasonOverLimits,
			fmt.Sprintf("plan %s: %s; what exists keeps working, new ones are refused", e.Plan.Name, strings.Join(over, ", ")), now)
		return
	}
	setTenantWithinLimits(t, metav1.ConditionTrue, aiasv1alpha1.ReasonWithinLimits, fmt.Sprintf("usage fits plan %s", e.Plan.Name), now)
}

// patchStatus writes usage and WithinLimits when they changed, with the optimistic lock.
func (r *TenantUsageReconciler) patchStatus(ctx context.Context, before, t *aiasv1alpha1.Tenant) error {
	return patchReadyStatus(ctx, r.Client, r.Recorder, "Tenant", "CountUsage", before, t, func(t *aiasv1alpha1.Tenant) readyStatus {
		return readyStatus{t.Status, t.Status.Conditions}
	})
}

func (r *TenantUsageReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// onlyUsageChanged reports that a pending status write changes nothing but usage.
func onlyUsageChanged(before, t *aiasv1alpha1.Tenant) bool {
	a, b := before.Status.DeepCopy(), t.Status.DeepCopy()
	a.Usage, b.Usage = nil, nil
	return equality.Semantic.DeepEqual(a, b) && !equality.Semantic.DeepEqual(before.Status, t.Status)
}

// tenantOfObject maps a namespaced object to the Tenant of its namespace.
func tenantOfObject(_ context.Context, o client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: o.GetNamespace()}}}
}

// usageChanged passes the events that change a tenant's usage: objects appearing or
// going away, and Runs starting or finishing.
var usageChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*aiasv1alpha1.Run)
		n, ok2 := e.ObjectNew.(*aiasv1alpha1.Run)
		return ok1 && ok2 && o.Status.Phase != n.Status.Phase
	},
	GenericFunc: func(event.GenericEvent) bool { return false },
}
