package controllers

import (
	"context"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
)

// planOf is the entitlement a Run's namespace is held to, by the one rule of
// internal/entitlements (the Tenant of the namespace's name, its plan computed now from
// the cached Tenant and Plans, never from a status that may lag), so a Run can never
// start on a stale, larger plan. nil: the namespace belongs to no Tenant and no plan
// limits apply. A Tenant whose plan does not exist has a nil Plan and the limits of a
// plan that allows nothing: its Runs are Rejected (QuotaExceeded) naming the missing
// plan, never run unlimited (the Tenant's Ready condition says PlanNotFound as well).
func (r *RunReconciler) planOf(ctx context.Context, namespace string) (*entitlements.Entitlement, error) {
	res := entitlements.Resolver{Reader: r.Client, DefaultPlan: r.DefaultPlan, PastDueGrace: r.PastDueGrace, Now: r.Now}
	return res.ForNamespace(ctx, namespace)
}

// scopePlan is planOf the Run's namespace, read once per reconcile.
func (r *RunReconciler) scopePlan(ctx context.Context, s *runScope) (*entitlements.Entitlement, error) {
	if !s.planRead {
		e, err := r.planOf(ctx, s.run.Namespace)
		if err != nil {
			return nil, err
		}
		s.plan, s.planRead = e, true
	}
	return s.plan, nil
}

// concurrentLimit is the tenant-wide slot limit for ClaimSlot: 0 for none. A plan's
// explicit 0 never reaches it (claimSlot queues such Runs first).
func concurrentLimit(e *entitlements.Entitlement) int {
	if l := e.Limits().ConcurrentRuns; l != nil {
		return int(*l)
	}
	return 0
}

// runsLimit is the runs-per-period limit for ClaimRun: negative for none.
func runsLimit(e *entitlements.Entitlement) int64 {
	if l := e.Limits().RunsPerMonth; l != nil {
		return *l
	}
	return -1
}

// periodStart is the start of the tenant's billing period holding now.
func periodStart(t *aiasv1alpha1.Tenant, now time.Time) time.Time {
	return entitlements.PeriodStart(t, now)
}
