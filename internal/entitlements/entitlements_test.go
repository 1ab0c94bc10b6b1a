package entitlements

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

func TestEffectivePlan(t *testing.T) {
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	grace := 72 * time.Hour
	plan := func(name string, prices ...string) aiasv1alpha1.Plan {
		return aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: aiasv1alpha1.PlanSpec{StripePriceIDs: prices}}
	}
	plans := []aiasv1alpha1.Plan{plan("free"), plan("pro", "price_pro", "price_pro_yearly"), plan("team", "price_team")}
	at := func(d time.Duration) *metav1.Time { t := metav1.NewTime(now.Add(d)); return &t }
	sub := func(status, price string, pastDue *metav1.Time) *aiasv1alpha1.SubscriptionStatus {
		return &aiasv1alpha1.SubscriptionStatus{ID: "sub_1", Status: status, PriceID: price, PastDueSince: pastDue}
	}

	tests := []struct {
		name       string
		specPlan   string
		sub        *aiasv1alpha1.SubscriptionStatus
		plans      []aiasv1alpha1.Plan
		grace      time.Duration
		wantPlan   string
		wantReason string
	}{
		{name: "nothing: default", wantPlan: "free", wantReason: ReasonDefault},
		{name: "spec plan exists", specPlan: "team", wantPlan: "team", wantReason: ReasonSpecPlan},
		{name: "spec plan missing: default", specPlan: "gold", wantPlan: "free", wantReason: ReasonDefault},
		{name: "active subscription", specPlan: "free", sub: sub("active", "price_pro", nil), wantPlan: "pro", wantReason: ReasonSubscription},
		{name: "trialing subscription", sub: sub("trialing", "price_pro_yearly", nil), wantPlan: "pro", wantReason: ReasonSubscription},
		{name: "active with unknown price: spec plan", specPlan: "team", sub: sub("active", "price_other", nil), wantPlan: "team", wantReason: ReasonSpecPlan},
		{name: "past due within grace", specPlan: "free", sub: sub("past_due", "price_team", at(-time.Hour)), grace: grace, wantPlan: "team", wantReason: ReasonPastDueGrace},
		{name: "past due grace expired", specPlan: "free", sub: sub("past_due", "price_team", at(-grace)), grace: grace, wantPlan: "free", wantReason: ReasonSpecPlan},
		{name: "past due no grace", sub: sub("past_due", "price_team", at(-time.Second)), wantPlan: "free", wantReason: ReasonDefault},
		{name: "past due without since, grace > 0", sub: sub("past_due", "price_team", nil), grace: grace, wantPlan: "team", wantReason: ReasonPastDueGrace},
		{name: "canceled falls back at once", specPlan: "team", sub: sub("canceled", "price_pro", nil), grace: grace, wantPlan: "team", wantReason: ReasonSpecPlan},
		{name: "unpaid falls back at once", sub: sub("unpaid", "price_pro", at(-time.Minute)), grace: grace, wantPlan: "free", wantReason: ReasonDefault},
		{name: "incomplete_expired falls back", sub: sub("incomplete_expired", "price_pro", nil), wantPlan: "free", wantReason: ReasonDefault},
		{name: "incomplete falls back", sub: sub("incomplete", "price_pro", nil), wantPlan: "free", wantReason: ReasonDefault},
		{name: "same price on two plans: first by name", sub: sub("active", "price_x", nil),
			plans: []aiasv1alpha1.Plan{plan("zeta", "price_x"), plan("alpha", "price_x")}, wantPlan: "alpha", wantReason: ReasonSubscription},
		{name: "no plans at all", specPlan: "pro", sub: sub("active", "price_pro", nil), plans: []aiasv1alpha1.Plan{}, wantPlan: "free", wantReason: ReasonDefault},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tn := &aiasv1alpha1.Tenant{Spec: aiasv1alpha1.TenantSpec{Plan: tc.specPlan}, Status: aiasv1alpha1.TenantStatus{Subscription: tc.sub}}
			ps := plans
			if tc.plans != nil {
				ps = tc.plans
			}
			gotPlan, gotReason := EffectivePlan(tn, ps, "free", now, tc.grace)
			if gotPlan != tc.wantPlan || gotReason != tc.wantReason {
				t.Errorf("EffectivePlan = (%q, %q), want (%q, %q)", gotPlan, gotReason, tc.wantPlan, tc.wantReason)
			}
		})
	}
}
