// Package entitlements decides which Plan a Tenant is on.
package entitlements

import (
	"slices"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Reasons EffectivePlan gives for its choice.
const (
	// ReasonSubscription: an active or trialing subscription's price selects the plan.
	ReasonSubscription = "Subscription"
	// ReasonPastDueGrace: the subscription is past due but still within the grace period.
	ReasonPastDueGrace = "PastDueGrace"
	// ReasonSpecPlan: the Tenant's spec.plan names an existing Plan.
	ReasonSpecPlan = "SpecPlan"
	// ReasonDefault: the cluster's default plan applies.
	ReasonDefault = "Default"
)

// Stripe subscription statuses that matter here.
const (
	StatusActive            = "active"
	StatusTrialing          = "trialing"
	StatusPastDue           = "past_due"
	StatusCanceled          = "canceled"
	StatusUnpaid            = "unpaid"
	StatusIncompleteExpired = "incomplete_expired"
)

// EffectivePlan returns the name of the Plan in force for t and why:
//   - an active or trialing subscription whose price is in a Plan's stripePriceIDs selects
//     that Plan (Subscription);
//   - a past_due subscription keeps its Plan until pastDueSince+pastDueGrace (PastDueGrace);
//     without a pastDueSince it is given the benefit of the doubt only when the grace is positive;
//   - otherwise (no subscription, canceled, unpaid, incomplete_expired, an unknown price or
//     status, or the grace expired) spec.plan when that Plan exists (SpecPlan), else defaultPlan
//     (Default). defaultPlan is returned as given: the caller checks that it exists.
//
// Plans are matched by price in name order, so two Plans claiming the same price give a
// stable answer.
func EffectivePlan(t *aiasv1alpha1.Tenant, plans []aiasv1alpha1.Plan, defaultPlan string, now time.Time, pastDueGrace time.Duration) (plan string, reason string) {
	if sub := t.Status.Subscription; sub != nil && sub.PriceID != "" {
		if p, ok := planForPrice(plans, sub.PriceID); ok {
			switch sub.Status {
			case StatusActive, StatusTrialing:
				return p, ReasonSubscription
			case StatusPastDue:
				if sub.PastDueSince == nil {
					if pastDueGrace > 0 {
						return p, ReasonPastDueGrace
					}
				} else if now.Before(sub.PastDueSince.Add(pastDueGrace)) {
					return p, ReasonPastDueGrace
				}
			}
		}
	}
	if t.Spec.Plan != "" && planExists(plans, t.Spec.Plan) {
		return t.Spec.Plan, ReasonSpecPlan
	}
	return defaultPlan, ReasonDefault
}

func planForPrice(plans []aiasv1alpha1.Plan, price string) (string, bool) {
	found := ""
	for i := range plans {
		if slices.Contains(plans[i].Spec.StripePriceIDs, price) && (found == "" || plans[i].Name < found) {
			found = plans[i].Name
		}
	}
	return found, found != ""
}

func planExists(plans []aiasv1alpha1.Plan, name string) bool {
	for i := range plans {
		if plans[i].Name == name {
			return true
		}
	}
	return false
}

// PeriodStart is the start of the tenant's billing period holding now: the subscription's
// current period (one month before currentPeriodEnd, moved by whole months until it
// holds now) when there is one, else the calendar month in UTC. Runs per month are
// counted per period.
func PeriodStart(t *aiasv1alpha1.Tenant, now time.Time) time.Time {
	now = now.UTC()
	if s := t.Status.Subscription; s != nil && s.CurrentPeriodEnd != nil {
		start := s.CurrentPeriodEnd.UTC().AddDate(0, -1, 0)
		for i := 0; start.After(now) && i < 1200; i++ {
			start = start.AddDate(0, -1, 0)
		}
		for i := 0; !start.AddDate(0, 1, 0).After(now) && i < 1200; i++ {
			start = start.AddDate(0, 1, 0)
		}
		return start
	}
	return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
}
