package entitlements

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Resolver answers, for a namespace, which Tenant it belongs to and which Plan binds it.
// The Run controller's quotas, the hook listener's quota check, the admission webhooks,
// the Tenant usage controller and the console all ask it, so they all apply one rule:
//
//   - A namespace belongs to the Tenant of the same name, and to no other. Labels are
//     not consulted: the aias.dev/tenant label marks what the Tenant controller manages,
//     and a label on a namespace (which anyone with namespace update rights can set)
//     never moves it under another Tenant's plan.
//   - The effective plan is computed now, by EffectivePlan, from the Tenant's spec.plan
//     and status.subscription and the Plans that exist. status.effectivePlan is not
//     read: it is this same computation written by the Tenant controller, and it lags a
//     subscription change (written by the billing webhook) or a Plan created or deleted
//     in between, during which a stale, larger plan would be enforced.
//   - When the plan it names does not exist, Plan is nil; the caller decides what that
//     means (admission refuses creates, Runs and deliveries run unlimited).
type Resolver struct {
	// Reader reads Tenants and Plans, usually from an informer cache.
	Reader client.Reader
	// DefaultPlan and PastDueGrace are the cluster's settings (the shared
	// --default-plan and --past-due-grace flags).
	DefaultPlan  string
	PastDueGrace time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Entitlement is what binds a namespace that belongs to a Tenant.
type Entitlement struct {
	Tenant *aiasv1alpha1.Tenant
	// PlanName is the effective plan and Reason why (ReasonSubscription, ...).
	PlanName string
	Reason   string
	// Plan is the Plan named PlanName; nil when there is none.
	Plan *aiasv1alpha1.Plan
}

// ForNamespace returns the namespace's Entitlement, or nil when the namespace belongs to
// no Tenant.
func (r *Resolver) ForNamespace(ctx context.Context, namespace string) (*Entitlement, error) {
	tenant := &aiasv1alpha1.Tenant{}
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: namespace}, tenant); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Tenant %s: %w", namespace, err)
	}
	return r.ForTenant(ctx, tenant)
}

// ForTenant returns the Entitlement of a Tenant already read.
func (r *Resolver) ForTenant(ctx context.Context, tenant *aiasv1alpha1.Tenant) (*Entitlement, error) {
	var plans aiasv1alpha1.PlanList
	if err := r.Reader.List(ctx, &plans); err != nil {
		return nil, fmt.Errorf("listing Plans: %w", err)
	}
	e := &Entitlement{Tenant: tenant}
	e.PlanName, e.Reason = EffectivePlan(tenant, plans.Items, r.DefaultPlan, r.now(), r.PastDueGrace)
	for i := range plans.Items {
		if plans.Items[i].Name == e.PlanName {
			e.Plan = &plans.Items[i]
			break
		}
	}
	return e, nil
}

// Limits are the limits in force: the Plan's, or none (the zero value) without one.
func (e *Entitlement) Limits() aiasv1alpha1.PlanLimits {
	if e == nil || e.Plan == nil {
		return aiasv1alpha1.PlanLimits{}
	}
	return e.Plan.Spec.Limits
}

// PeriodStart is the start of the Tenant's billing period holding now.
func (e *Entitlement) PeriodStart(now time.Time) time.Time { return PeriodStart(e.Tenant, now) }

// Describe names the tenant and its plan for messages: "tenant acme on plan pro".
func (e *Entitlement) Describe() string {
	name := e.PlanName
	if e.Plan == nil {
		name += " (no such Plan)"
	}
	return fmt.Sprintf("tenant %s on plan %s", e.Tenant.Name, name)
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
