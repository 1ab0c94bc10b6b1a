package entitlements

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
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
//   - When the plan it names does not exist, Plan is nil and Limits are those of a plan
//     that allows nothing (NoPlanLimits): a typo in a plan name, or a default plan that
//     was never created, never makes a Tenant unlimited.
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

// Limits are the limits in force: the Plan's; NoPlanLimits when the Tenant's plan does
// not exist; none (the zero value) for a namespace that belongs to no Tenant (e is nil).
func (e *Entitlement) Limits() aiasv1alpha1.PlanLimits {
	if e == nil {
		return aiasv1alpha1.PlanLimits{}
	}
	if e.Plan == nil {
		return NoPlanLimits()
	}
	return e.Plan.Spec.Limits
}

// PlanMissing reports whether the Tenant's effective plan names no existing Plan.
func (e *Entitlement) PlanMissing() bool { return e != nil && e.Plan == nil }

// NoPlanLimits are the limits of a Tenant whose plan does not exist: the most restrictive
// there are. Every count, quota and byte budget is zero (no Workflow, WebhookEndpoint or
// Schedule is created, no Run starts, no delivery is accepted or kept), so a Tenant
// is never unlimited by accident. stepsPerWorkflow and maxStepTimeout stay unset: they
// shape Workflows and steps, which cannot be created or run on no plan anyway, and a
// zero step timeout means nothing. Callers name the missing plan in what they tell the
// user (MissingPlanMessage), rather than "allows 0".
func NoPlanLimits() aiasv1alpha1.PlanLimits {
	zero32 := func() *int32 { v := int32(0); return &v }
	zero64 := func() *int64 { v := int64(0); return &v }
	return aiasv1alpha1.PlanLimits{
		Workflows: zero32(), WebhookEndpoints: zero32(), Schedules: zero32(),
		RunsPerMonth: zero64(), ConcurrentRuns: zero32(),
		DeliveryRetention: &metav1.Duration{}, DeliveryLogBytes: zero64(), DeliveriesPerMinute: zero32(),
		ItemsPerStep: zero32(), ArtifactBytesPerRun: zero64(), LogBytesPerRun: zero64(),
	}
}

// MissingPlanMessage tells a user why nothing is allowed on a missing plan, with what is
// refused: `tenant acme: plan "gold" does not exist, so no Run can start (create the
// Plan or change the Tenant's spec.plan)`.
func (e *Entitlement) MissingPlanMessage(refused string) string {
	spec := e.Tenant.Spec.Plan
	var what string
	switch {
	case e.PlanName == "" && spec == "":
		what = "spec.plan is empty and no default plan is configured"
	case e.PlanName == "":
		what = fmt.Sprintf("plan %q does not exist and no default plan is configured", spec)
	case spec != "" && spec != e.PlanName:
		what = fmt.Sprintf("plan %q does not exist, nor the default plan %q", spec, e.PlanName)
	default:
		what = fmt.Sprintf("plan %q does not exist", e.PlanName)
	}
	return fmt.Sprintf("tenant %s: %s, so %s (create the Plan or change the Tenant's spec.plan)", e.Tenant.Name, what, refused)
}

// PeriodStart is the start of the Tenant's billing period holding now.
func (e *Entitlement) PeriodStart(now time.Time) time.Time { return PeriodStart(e.Tenant, now) }

// Describe names the tenant and its plan for messages: "tenant acme on plan pro".
func (e *Entitlement) Describe() string {
	if e.Plan == nil {
		return fmt.Sprintf("tenant %s on plan %s, which does not exist", e.Tenant.Name, e.PlanName)
	}
	return fmt.Sprintf("tenant %s on plan %s", e.Tenant.Name, e.PlanName)
}

func (r *Resolver) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}
