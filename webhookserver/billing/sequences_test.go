package billing

import (
	"encoding/json"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Real Stripe event sequences, built as Stripe sends them (the shape of stripe-go v76's
// stripe.Event, data.object a subscription or an invoice), shared by the pure state tests
// (state_test.go) and the end-to-end tests through the signed HTTP endpoint
// (billing_test.go, through export_test.go).

// testEvent is one Stripe event: its id, type, creation time and JSON body.
type testEvent struct {
	ID, Type string
	Created  time.Time
	Body     []byte
}

// testSequence is a sequence in the order Stripe created it, and the subscription status a
// Tenant must end with, whatever the delivery order.
type testSequence struct {
	Name   string
	Events []testEvent
	Want   aiasv1alpha1.SubscriptionStatus
}

// stripeBuilder builds the events of one customer: tag makes the ids of subscriptions,
// prices and invoices unique, eventTag those of events and requests.
type stripeBuilder struct {
	customer, tag, eventTag string
	n                       int
}

const (
	testAPIVersion      = "2023-10-16"        // stripe-go v76's pinned version
	testAPIVersionBasil = "2025-03-31.basil"  // invoice.subscription moved under parent
	testMonth           = 30 * 24 * time.Hour // one billing period
)

func (b *stripeBuilder) id(prefix string) string {
	b.n++
	tag := b.tag
	if prefix == "evt" || prefix == "req" || prefix == "idem" {
		tag = b.eventTag
	}
	return fmt.Sprintf("%s_%s%d", prefix, tag, b.n)
}

// event wraps a data.object into a Stripe event envelope.
func (b *stripeBuilder) event(typ, apiVersion string, created time.Time, obj, previous map[string]any) testEvent {
	data := map[string]any{"object": obj}
	if previous != nil {
		data["previous_attributes"] = previous
	}
	id := b.id("evt")
	body, err := json.Marshal(map[string]any{
		"id": id, "object": "event", "account": nil, "api_version": apiVersion, "created": created.Unix(),
		"data": data, "livemode": false, "pending_webhooks": 1,
		"request": map[string]any{"id": b.id("req"), "idempotency_key": b.id("idem")}, "type": typ,
	})
	if err != nil {
		panic(err)
	}
	return testEvent{ID: id, Type: typ, Created: created, Body: body}
}

// subscriptionState is what a subscription object says at one moment.
type subscriptionState struct {
	id, status, price  string
	created, periodEnd time.Time
	cancelAtPeriodEnd  bool
	endedAt            time.Time
}

// subscription renders a subscription object as Stripe does (API 2023-10-16, with the
// 2025 item-level current_period_end as well).
func (b *stripeBuilder) subscription(s subscriptionState) map[string]any {
	start := s.periodEnd.Add(-testMonth).Unix()
	var cancelAt, canceledAt, endedAt any
	if s.cancelAtPeriodEnd {
		cancelAt, canceledAt = s.periodEnd.Unix(), start
	}
	if !s.endedAt.IsZero() {
		canceledAt, endedAt = s.endedAt.Unix(), s.endedAt.Unix()
	}
	return map[string]any{
		"id": s.id, "object": "subscription", "application": nil, "automatic_tax": map[string]any{"enabled": false},
		"billing_cycle_anchor": s.created.Unix(), "cancel_at": cancelAt, "cancel_at_period_end": s.cancelAtPeriodEnd,
		"canceled_at": canceledAt, "collection_method": "charge_automatically", "created": s.created.Unix(), "currency": "usd",
		"current_period_start": start, "current_period_end": s.periodEnd.Unix(), "customer": b.customer,
		"default_payment_method": "pm_card_visa", "ended_at": endedAt, "latest_invoice": b.id("in"), "livemode": false,
		"metadata": map[string]any{}, "start_date": s.created.Unix(), "status": s.status, "trial_end": nil, "trial_start": nil,
		"items": map[string]any{"object": "list", "has_more": false, "total_count": 1, "url": "/v1/subscription_items?subscription=" + s.id,
			"data": []any{map[string]any{
				"id": "si_" + s.id, "object": "subscription_item", "created": s.created.Unix(), "quantity": 1, "subscription": s.id,
				"current_period_start": start, "current_period_end": s.periodEnd.Unix(),
				"price": map[string]any{"id": s.price, "object": "price", "active": true, "currency": "usd", "product": "prod_" + s.price,
					"recurring": map[string]any{"interval": "month", "interval_count": 1, "usage_type": "licensed"},
					"type":      "recurring", "unit_amount": 2000},
			}}},
	}
}

// invoice renders an invoice of subscription sub: with the top-level subscription field of
// API 2023-10-16, or (basil) under parent.subscription_details as Stripe sends it since 2025.
func (b *stripeBuilder) invoice(sub, price, reason string, paid bool, attempts int, created, periodEnd time.Time, basil bool) map[string]any {
	status, amountPaid := "open", 0
	if paid {
		status, amountPaid = "paid", 2000
	}
	inv := map[string]any{
		"id": b.id("in"), "object": "invoice", "customer": b.customer, "status": status, "paid": paid,
		"amount_due": 2000, "amount_paid": amountPaid, "amount_remaining": 2000 - amountPaid, "attempt_count": attempts,
		"attempted": true, "billing_reason": reason, "collection_method": "charge_automatically", "created": created.Unix(),
		"currency": "usd", "livemode": false, "period_start": periodEnd.Add(-testMonth).Unix(), "period_end": periodEnd.Unix(),
		"lines": map[string]any{"object": "list", "has_more": false, "total_count": 1, "data": []any{map[string]any{
			"id": b.id("il"), "object": "line_item", "amount": 2000, "currency": "usd", "type": "subscription",
			"period": map[string]any{"start": periodEnd.Add(-testMonth).Unix(), "end": periodEnd.Unix()},
			"price":  map[string]any{"id": price, "object": "price"},
		}}},
	}
	if basil {
		inv["parent"] = map[string]any{"type": "subscription_details", "quote_details": nil,
			"subscription_details": map[string]any{"metadata": map[string]any{}, "subscription": sub}}
	} else {
		inv["subscription"] = sub
	}
	return inv
}

func (b *stripeBuilder) subEvent(typ string, at time.Time, s subscriptionState, previous map[string]any) testEvent {
	return b.event(typ, testAPIVersion, at, b.subscription(s), previous)
}

func (b *stripeBuilder) invoiceEvent(typ string, at time.Time, inv map[string]any, basil bool) testEvent {
	v := testAPIVersion
	if basil {
		v = testAPIVersionBasil
	}
	return b.event(typ, v, at, inv, nil)
}

func metaTime(t time.Time) *metav1.Time { m := metav1.NewTime(t.UTC()); return &m }

// stripeSequences returns, for customer, the sequences the billing endpoint must apply
// alike in any delivery order. t0 is whole seconds; the ids of events carry eventTag, all
// others tag. Events of one sequence share seconds where Stripe emits them together.
func stripeSequences(customer, tag, eventTag string, t0 time.Time) []testSequence {
	b := &stripeBuilder{customer: customer, tag: tag, eventTag: eventTag}
	t0 = t0.Truncate(time.Second)
	t10, t20, t30 := t0.Add(10*time.Second), t0.Add(20*time.Second), t0.Add(30*time.Second)
	end := t0.Add(testMonth)
	var seqs []testSequence

	// (1) A cancel: subscribed and paid, cancel at period end requested, deleted, and a late
	// invoice.paid (the final invoice, the 2025 shape) after the deletion.
	s := subscriptionState{id: b.id("sub"), status: "active", price: "price_A" + tag, created: t0, periodEnd: end}
	cancelReq := s
	cancelReq.cancelAtPeriodEnd = true
	deleted := cancelReq
	deleted.status, deleted.endedAt = "canceled", t20
	seqs = append(seqs, testSequence{Name: "cancel", Events: []testEvent{
		b.subEvent("customer.subscription.created", t0, s, nil),
		b.invoiceEvent("invoice.paid", t0, b.invoice(s.id, s.price, "subscription_create", true, 1, t0, end, false), false),
		b.subEvent("customer.subscription.updated", t10, cancelReq, map[string]any{"cancel_at_period_end": false, "cancel_at": nil}),
		b.subEvent("customer.subscription.deleted", t20, deleted, nil),
		b.invoiceEvent("invoice.paid", t30, b.invoice(s.id, s.price, "subscription_cycle", true, 1, t20, end, true), true),
	}, Want: aiasv1alpha1.SubscriptionStatus{ID: s.id, Status: "canceled", PriceID: s.price, CurrentPeriodEnd: metaTime(end), UpdatedAt: metaTime(t20)}})

	// (2) A failed payment recovered: the renewal's payment fails (past_due), the retry
	// succeeds (active). Stripe sends the invoice event and the subscription update together.
	s = subscriptionState{id: b.id("sub"), status: "active", price: "price_A" + tag, created: t0, periodEnd: end}
	pastDue, recovered := s, s
	pastDue.status = "past_due"
	seqs = append(seqs, testSequence{Name: "failed payment recovered", Events: []testEvent{
		b.subEvent("customer.subscription.created", t0, s, nil),
		b.invoiceEvent("invoice.payment_failed", t10, b.invoice(s.id, s.price, "subscription_cycle", false, 1, t10, end, false), false),
		b.subEvent("customer.subscription.updated", t10, pastDue, map[string]any{"status": "active"}),
		b.invoiceEvent("invoice.paid", t20, b.invoice(s.id, s.price, "subscription_cycle", true, 2, t10, end, true), true),
		b.subEvent("customer.subscription.updated", t20, recovered, map[string]any{"status": "past_due"}),
	}, Want: aiasv1alpha1.SubscriptionStatus{ID: s.id, Status: "active", PriceID: s.price, CurrentPeriodEnd: metaTime(end), UpdatedAt: metaTime(t20)}})

	// (3) An upgrade: subscribed on price A and paid, moved to price B, the proration paid.
	s = subscriptionState{id: b.id("sub"), status: "active", price: "price_A" + tag, created: t0, periodEnd: end}
	upgraded := s
	upgraded.price = "price_B" + tag
	seqs = append(seqs, testSequence{Name: "upgrade", Events: []testEvent{
		b.subEvent("customer.subscription.created", t0, s, nil),
		b.invoiceEvent("invoice.paid", t0, b.invoice(s.id, s.price, "subscription_create", true, 1, t0, end, false), false),
		b.subEvent("customer.subscription.updated", t10, upgraded, map[string]any{"items": map[string]any{"data": []any{map[string]any{"price": map[string]any{"id": s.price}}}}}),
		b.invoiceEvent("invoice.paid", t10, b.invoice(s.id, upgraded.price, "subscription_update", true, 1, t10, end, true), true),
	}, Want: aiasv1alpha1.SubscriptionStatus{ID: s.id, Status: "active", PriceID: upgraded.price, CurrentPeriodEnd: metaTime(end), UpdatedAt: metaTime(t10)}})

	// (4) A failed payment not recovered: past_due since the first failure, a failed retry
	// keeps that date.
	s = subscriptionState{id: b.id("sub"), status: "active", price: "price_A" + tag, created: t0, periodEnd: end}
	pastDue = s
	pastDue.status = "past_due"
	seqs = append(seqs, testSequence{Name: "failed payment", Events: []testEvent{
		b.subEvent("customer.subscription.created", t0, s, nil),
		b.invoiceEvent("invoice.paid", t0, b.invoice(s.id, s.price, "subscription_create", true, 1, t0, end, false), false),
		b.invoiceEvent("invoice.payment_failed", t10, b.invoice(s.id, s.price, "subscription_cycle", false, 1, t10, end, true), true),
		b.subEvent("customer.subscription.updated", t10, pastDue, map[string]any{"status": "active"}),
		b.invoiceEvent("invoice.payment_failed", t20, b.invoice(s.id, s.price, "subscription_cycle", false, 2, t10, end, true), true),
	}, Want: aiasv1alpha1.SubscriptionStatus{ID: s.id, Status: "past_due", PriceID: s.price, CurrentPeriodEnd: metaTime(end),
		PastDueSince: metaTime(t10), UpdatedAt: metaTime(t20)}})

	// (5) A move to a new subscription: the customer subscribes anew on price B and the old
	// subscription is deleted in the same second; the old one's late invoice changes nothing.
	old := subscriptionState{id: b.id("sub"), status: "active", price: "price_A" + tag, created: t0, periodEnd: end}
	oldDeleted := old
	oldDeleted.status, oldDeleted.endedAt = "canceled", t10
	next := subscriptionState{id: b.id("sub"), status: "active", price: "price_B" + tag, created: t10, periodEnd: t10.Add(testMonth)}
	seqs = append(seqs, testSequence{Name: "new subscription", Events: []testEvent{
		b.subEvent("customer.subscription.created", t0, old, nil),
		b.subEvent("customer.subscription.created", t10, next, nil),
		b.invoiceEvent("invoice.paid", t10, b.invoice(next.id, next.price, "subscription_create", true, 1, t10, next.periodEnd, true), true),
		b.subEvent("customer.subscription.deleted", t10, oldDeleted, nil),
		b.invoiceEvent("invoice.paid", t20, b.invoice(old.id, old.price, "subscription_cycle", true, 1, t20, end, false), false),
	}, Want: aiasv1alpha1.SubscriptionStatus{ID: next.id, Status: "active", PriceID: next.price, CurrentPeriodEnd: metaTime(next.periodEnd), UpdatedAt: metaTime(t10)}})
	return seqs
}
