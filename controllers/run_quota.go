package controllers

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
)

// tenantPlan is the plan a Run's namespace is held to: the Tenant of that name and its
// effective plan, computed here from the cached Tenant and Plans (not read from the
// Tenant's status, which may lag) so a Run can never start on a stale, larger plan.
// A namespace that belongs to no Tenant has no plan (nil): no plan limits apply.
type tenantPlan struct {
	tenant *aiasv1alpha1.Tenant
	plan   *aiasv1alpha1.Plan
}

func (r *RunReconciler) planOf(ctx context.Context, namespace string) (*tenantPlan, error) {
	tenant := &aiasv1alpha1.Tenant{}
	if err := r.Get(ctx, clientKey("", namespace), tenant); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	var plans aiasv1alpha1.PlanList
	if err := r.List(ctx, &plans); err != nil {
		return nil, err
	}
	name, _ := entitlements.EffectivePlan(tenant, plans.Items, r.DefaultPlan, r.Now(), r.PastDueGrace)
	for i := range plans.Items {
		if plans.Items[i].Name == name {
			return &tenantPlan{tenant: tenant, plan: &plans.Items[i]}, nil
		}
	}
	// The Tenant names no existing Plan (its Ready condition says so): nothing can be
	// enforced, and refusing every Run for a typo would be worse than a missing limit.
	return &tenantPlan{tenant: tenant}, nil
}

// concurrentLimit is the tenant-wide slot limit for ClaimSlot: 0 for none.
func (tp *tenantPlan) concurrentLimit() int {
	if tp == nil || tp.plan == nil || tp.plan.Spec.Limits.ConcurrentRuns == nil {
		return 0
	}
	return int(*tp.plan.Spec.Limits.ConcurrentRuns)
}

// runsLimit is the runs-per-period limit for ClaimRun: negative for none.
func (tp *tenantPlan) runsLimit() int64 {
	if tp == nil || tp.plan == nil || tp.plan.Spec.Limits.RunsPerMonth == nil {
		return -1
	}
	return *tp.plan.Spec.Limits.RunsPerMonth
}

// periodStart is the start of the tenant's billing period holding now.
func periodStart(t *aiasv1alpha1.Tenant, now time.Time) time.Time {
	return entitlements.PeriodStart(t, now)
}

func (tp *tenantPlan) describe() string {
	name := "(none)"
	if tp.plan != nil {
		name = tp.plan.Name
	}
	return fmt.Sprintf("tenant %s on plan %s", tp.tenant.Name, name)
}
