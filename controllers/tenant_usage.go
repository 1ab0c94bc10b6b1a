package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
)

// DefaultUsageInterval bounds how often a Tenant's status is rewritten for usage alone:
// a busy tenant starts and ends Runs many times a second.
const DefaultUsageInterval = 5 * time.Second

// tenantUsage is exported per tenant for Prometheus (gauges, set at each reconcile).
var tenantUsage = prometheus.NewGaugeVec(prometheus.GaugeOpts{
	Name: "aias_tenant_usage",
	Help: "What each tenant uses against its plan: workflows, webhook_endpoints, active_runs, runs_this_period.",
}, []string{"tenant", "plan", "resource"})

// reconcileUsage reports in status what the tenant uses: Workflows and WebhookEndpoints in
// its namespace and active Runs (from the cache), and Runs started this billing period
// (from the store, where the Run controller counts them).
func (r *TenantReconciler) reconcileUsage(ctx context.Context, t *aiasv1alpha1.Tenant) error {
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
	period := entitlements.PeriodStart(t, r.now())
	var started int64
	if r.Store != nil {
		n, err := r.Store.TenantRuns(ctx, t.Name, period)
		if err != nil {
			return fmt.Errorf("reading the tenant's run count: %w", err)
		}
		started = n
	}
	start := metav1.NewTime(period)
	t.Status.Usage = &aiasv1alpha1.TenantUsage{
		Workflows: int32(len(wfs.Items)), WebhookEndpoints: int32(len(eps.Items)),
		RunsThisPeriod: started, ActiveRuns: active, PeriodStart: &start,
	}
	r.reportOverLimits(ctx, t)
	for res, v := range map[string]float64{"workflows": float64(len(wfs.Items)), "webhook_endpoints": float64(len(eps.Items)),
		"active_runs": float64(active), "runs_this_period": float64(started)} {
		tenantUsage.WithLabelValues(t.Name, t.Status.EffectivePlan, res).Set(v)
	}
	return nil
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

// ConditionWithinLimits says whether what a tenant already has fits its plan. After a
// downgrade it may not: nothing is removed and existing objects keep working, new ones
// are refused, and this condition says why.
const ConditionWithinLimits = "WithinLimits"

func (r *TenantReconciler) reportOverLimits(ctx context.Context, t *aiasv1alpha1.Tenant) {
	plan := &aiasv1alpha1.Plan{}
	if t.Status.EffectivePlan == "" || r.Get(ctx, client.ObjectKey{Name: t.Status.EffectivePlan}, plan) != nil {
		meta.RemoveStatusCondition(&t.Status.Conditions, ConditionWithinLimits)
		return
	}
	u, l := t.Status.Usage, plan.Spec.Limits
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
	cond := metav1.Condition{Type: ConditionWithinLimits, Status: metav1.ConditionTrue, Reason: "WithinLimits",
		Message: fmt.Sprintf("usage fits plan %s", plan.Name), ObservedGeneration: t.Generation}
	if len(over) > 0 {
		cond.Status, cond.Reason = metav1.ConditionFalse, "OverLimits"
		cond.Message = fmt.Sprintf("plan %s: %s; what exists keeps working, new ones are refused", plan.Name, strings.Join(over, ", "))
	}
	meta.SetStatusCondition(&t.Status.Conditions, cond)
}
