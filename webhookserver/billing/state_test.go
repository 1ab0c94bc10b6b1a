package billing

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// parseTestEvent reads a test event as ServeHTTP does (stripe-go's Event, then the lenient
// object parser); false when it concerns no subscription.
func parseTestEvent(t *testing.T, e testEvent) (string, subEvent, bool) {
	t.Helper()
	var ev stripe.Event
	if err := json.Unmarshal(e.Body, &ev); err != nil || ev.Data == nil {
		t.Fatalf("stripe-go cannot read event %s: %v", e.ID, err)
	}
	return subscriptionEvent(ev.ID, string(ev.Type), ev.Created, parseStripeObject(ev.Data.Raw))
}

// applyInOrder places the events of seq in the given order into one Tenant's records and
// returns what its status shows, with each event's outcome.
func applyInOrder(t *testing.T, seq testSequence, order []int) (aiasv1alpha1.SubscriptionStatus, []string, tenantRecords) {
	t.Helper()
	records := tenantRecords{}
	var outcomes []string
	for _, i := range order {
		sub, ev, ok := parseTestEvent(t, seq.Events[i])
		if !ok {
			t.Fatalf("%s: event %d names no subscription", seq.Name, i)
		}
		outcomes = append(outcomes, seq.Events[i].Type+":"+records.place(sub, ev))
		// Records round-trip through JSON between events, as through PostgreSQL.
		for id, r := range records {
			raw, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var back subRecord
			if err := json.Unmarshal(raw, &back); err != nil {
				t.Fatal(err)
			}
			records[id] = &back
		}
	}
	cur, ok := records.current()
	if !ok {
		t.Fatalf("%s: no subscription", seq.Name)
	}
	return cur.status(), outcomes, records
}

func permutations(n int) [][]int {
	var all [][]int
	var permute func(p []int, k int)
	permute = func(p []int, k int) {
		if k == len(p) {
			all = append(all, slices.Clone(p))
			return
		}
		for i := k; i < len(p); i++ {
			p[k], p[i] = p[i], p[k]
			permute(p, k+1)
			p[k], p[i] = p[i], p[k]
		}
	}
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	permute(p, 0)
	return all
}

func show(s aiasv1alpha1.SubscriptionStatus) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Every real sequence, in every one of its delivery orders, ends in the in-order result,
// and a redelivery of any of its events changes nothing.
func TestStripeSequencesEveryOrder(t *testing.T) {
	t0 := time.Unix(1760000000, 0)
	for _, seq := range stripeSequences("cus_P", "p", "p", t0) {
		perms := permutations(len(seq.Events))
		inOrder, _, _ := applyInOrder(t, seq, perms[0])
		if !sameSubscription(inOrder, seq.Want) {
			t.Fatalf("%s in order: got %s, want %s", seq.Name, show(inOrder), show(seq.Want))
		}
		for _, order := range perms {
			got, outcomes, records := applyInOrder(t, seq, order)
			if !sameSubscription(got, inOrder) {
				t.Fatalf("%s in order %v (%v): got %s, want %s", seq.Name, order, outcomes, show(got), show(inOrder))
			}
			for _, e := range seq.Events {
				sub, ev, _ := parseTestEvent(t, e)
				if o := records.place(sub, ev); o == placedApplied {
					t.Fatalf("%s in order %v: a redelivered %s was applied again", seq.Name, order, e.Type)
				}
			}
			if again, _ := records.current(); !sameSubscription(again.status(), got) {
				t.Fatalf("%s in order %v: redeliveries changed %s to %s", seq.Name, order, show(got), show(again.status()))
			}
		}
	}
}

func ev(id, typ string, created int64, status, price string) subEvent {
	e := subEvent{ID: id, Type: typ, Created: created}
	if typ != stripeInvoicePaid && typ != stripeInvoicePaymentFail {
		e.Status, e.PriceID, e.PeriodEnd, e.SubCreated = status, price, created+1000, 100
	}
	return e
}

// next, one transition at a time.
func TestNextTransitions(t *testing.T) {
	active := subState{ID: "sub_1", Status: "active", PriceID: "price_A", PeriodEnd: 5000, UpdatedAt: 100, SubCreated: 100, HasObject: true}
	pastDue := active
	pastDue.Status, pastDue.PastDueSince = "past_due", 150
	trialing, incomplete, ended := active, active, active
	trialing.Status, incomplete.Status = "trialing", "incomplete"
	ended.Status, ended.Ended = "canceled", true
	tests := []struct {
		name string
		from subState
		e    subEvent
		want subState
	}{
		{"created", subState{ID: "sub_1"}, ev("e", stripeSubscriptionCreated, 100, "active", "price_A"),
			subState{ID: "sub_1", Status: "active", PriceID: "price_A", PeriodEnd: 1100, UpdatedAt: 100, SubCreated: 100, HasObject: true}},
		{"invoice before any object", subState{ID: "sub_1"}, ev("e", stripeInvoicePaymentFail, 120, "", ""),
			subState{ID: "sub_1", Status: "past_due", PastDueSince: 120, UpdatedAt: 120, SubCreated: 120}},
		{"payment failed", active, ev("e", stripeInvoicePaymentFail, 200, "", ""),
			subState{ID: "sub_1", Status: "past_due", PriceID: "price_A", PeriodEnd: 5000, PastDueSince: 200, UpdatedAt: 200, SubCreated: 100, HasObject: true}},
		{"failed again keeps the date", pastDue, ev("e", stripeInvoicePaymentFail, 300, "", ""),
			subState{ID: "sub_1", Status: "past_due", PriceID: "price_A", PeriodEnd: 5000, PastDueSince: 150, UpdatedAt: 300, SubCreated: 100, HasObject: true}},
		{"paid clears past due", pastDue, ev("e", stripeInvoicePaid, 300, "", ""),
			subState{ID: "sub_1", Status: "active", PriceID: "price_A", PeriodEnd: 5000, UpdatedAt: 300, SubCreated: 100, HasObject: true}},
		{"a paid invoice keeps a trial", trialing, ev("e", stripeInvoicePaid, 300, "", ""),
			subState{ID: "sub_1", Status: "trialing", PriceID: "price_A", PeriodEnd: 5000, UpdatedAt: 300, SubCreated: 100, HasObject: true}},
		{"paid completes an incomplete one", incomplete, ev("e", stripeInvoicePaid, 300, "", ""),
			subState{ID: "sub_1", Status: "active", PriceID: "price_A", PeriodEnd: 5000, UpdatedAt: 300, SubCreated: 100, HasObject: true}},
		{"a failed first payment stays incomplete", incomplete, ev("e", stripeInvoicePaymentFail, 300, "", ""),
			subState{ID: "sub_1", Status: "incomplete", PriceID: "price_A", PeriodEnd: 5000, UpdatedAt: 300, SubCreated: 100, HasObject: true}},
		{"update to unpaid keeps the date", pastDue, ev("e", stripeSubscriptionUpdated, 300, "unpaid", "price_A"),
			subState{ID: "sub_1", Status: "unpaid", PriceID: "price_A", PeriodEnd: 1300, PastDueSince: 150, UpdatedAt: 300, SubCreated: 100, HasObject: true}},
		{"deleted ends it, whatever the object says", active, ev("e", stripeSubscriptionDeleted, 300, "active", "price_A"),
			subState{ID: "sub_1", Status: "canceled", PriceID: "price_A", PeriodEnd: 1300, UpdatedAt: 300, SubCreated: 100, HasObject: true, Ended: true}},
		{"canceled by an update ends it", active, ev("e", stripeSubscriptionUpdated, 300, "canceled", "price_A"),
			subState{ID: "sub_1", Status: "canceled", PriceID: "price_A", PeriodEnd: 1300, UpdatedAt: 300, SubCreated: 100, HasObject: true, Ended: true}},
		{"incomplete_expired ends it", incomplete, ev("e", stripeSubscriptionUpdated, 300, "incomplete_expired", "price_A"),
			subState{ID: "sub_1", Status: "incomplete_expired", PriceID: "price_A", PeriodEnd: 1300, UpdatedAt: 300, SubCreated: 100, HasObject: true, Ended: true}},
		{"nothing revives an ended one: paid", ended, ev("e", stripeInvoicePaid, 400, "", ""), ended},
		{"nothing revives an ended one: failed", ended, ev("e", stripeInvoicePaymentFail, 400, "", ""), ended},
		{"nothing revives an ended one: updated", ended, ev("e", stripeSubscriptionUpdated, 400, "active", "price_B"), ended},
		{"nothing revives an ended one: created", ended, ev("e", stripeSubscriptionCreated, 400, "active", "price_B"), ended},
		{"an update without items keeps the price", active, subEvent{ID: "e", Type: stripeSubscriptionUpdated, Created: 300, Status: "active"},
			subState{ID: "sub_1", Status: "active", PriceID: "price_A", PeriodEnd: 5000, UpdatedAt: 300, SubCreated: 100, HasObject: true}},
	}
	for _, tt := range tests {
		if got := next(tt.from, tt.e); got != tt.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

// The tie rule within one second: created first, then invoice events (a failure before a
// payment), then the update carrying the subscription's own status, then the deletion.
func TestSameSecondOrder(t *testing.T) {
	tests := []struct {
		name   string
		events []subEvent
		status string
	}{
		{"a retry paid in the failure's second", []subEvent{ev("a", stripeInvoicePaid, 10, "", ""), ev("b", stripeInvoicePaymentFail, 10, "", "")}, "active"},
		{"the object says active after a failure", []subEvent{ev("a", stripeSubscriptionUpdated, 10, "active", "p"), ev("b", stripeInvoicePaymentFail, 10, "", "")}, "active"},
		{"the object says past_due after a payment", []subEvent{ev("a", stripeSubscriptionUpdated, 10, "past_due", "p"), ev("b", stripeInvoicePaid, 10, "", "")}, "past_due"},
		{"an incomplete creation paid", []subEvent{ev("a", stripeInvoicePaid, 10, "", ""), ev("b", stripeSubscriptionCreated, 10, "incomplete", "p")}, "active"},
		{"updated then deleted", []subEvent{ev("a", stripeSubscriptionDeleted, 10, "canceled", "p"), ev("b", stripeSubscriptionUpdated, 10, "active", "p")}, "canceled"},
		{"an earlier second first", []subEvent{ev("a", stripeSubscriptionUpdated, 11, "active", "p"), ev("b", stripeSubscriptionDeleted, 10, "canceled", "p")}, "canceled"},
	}
	for _, tt := range tests {
		for _, order := range permutations(len(tt.events)) {
			r := newSubRecord("sub_1")
			for _, i := range order {
				r.place(tt.events[i])
			}
			if got := r.state().Status; got != tt.status {
				t.Errorf("%s, order %v: %s, want %s", tt.name, order, got, tt.status)
			}
		}
	}
}

// A record keeps at most maxSubscriptionHistory events; its state is still the in-order
// result, and an event older than what it kept is stale.
func TestSubRecordBounded(t *testing.T) {
	r := newSubRecord("sub_1")
	want := subState{ID: "sub_1"}
	r.place(ev("c", stripeSubscriptionCreated, 100, "active", "price_A"))
	want = next(want, ev("c", stripeSubscriptionCreated, 100, "active", "price_A"))
	for i := range 3 * maxSubscriptionHistory {
		typ := stripeInvoicePaid
		if i%3 == 1 {
			typ = stripeInvoicePaymentFail
		}
		e := ev(fmt.Sprintf("e%03d", i), typ, int64(200+10*i), "", "")
		if o := r.place(e); o != placedApplied {
			t.Fatalf("event %d: %s", i, o)
		}
		want = next(want, e)
	}
	if len(r.Events) > maxSubscriptionHistory || r.BaseKey == nil {
		t.Fatalf("%d events kept", len(r.Events))
	}
	if r.state() != want {
		t.Fatalf("bounded state %+v, want %+v", r.state(), want)
	}
	if o := r.place(ev("old", stripeSubscriptionUpdated, 150, "past_due", "price_B")); o != placedStale {
		t.Fatalf("an event older than the history: %s", o)
	}
	// An ended record keeps no history at all.
	if o := r.place(ev("d", stripeSubscriptionDeleted, 5000, "canceled", "price_A")); o != placedApplied || len(r.Events) != 0 || !r.state().Ended {
		t.Fatalf("deleted: %s, %d events, %+v", o, len(r.Events), r.state())
	}
	if o := r.place(ev("late", stripeInvoicePaid, 6000, "", "")); o != placedEnded {
		t.Fatalf("after the deletion: %s", o)
	}
}

// Which subscription a Tenant shows.
func TestCurrentSubscription(t *testing.T) {
	live := func(id string, created int64) subState {
		return subState{ID: id, Status: "active", SubCreated: created, UpdatedAt: created, HasObject: true}
	}
	old, newer := live("sub_old", 100), live("sub_new", 200)
	oldEnded, newerEnded := old, newer
	oldEnded.Status, oldEnded.Ended, oldEnded.UpdatedAt = "canceled", true, 900
	newerEnded.Status, newerEnded.Ended = "canceled", true
	incomplete := newer
	incomplete.Status = "incomplete"
	invoiceOnly := subState{ID: "sub_inv", Status: "active", SubCreated: 300, UpdatedAt: 300}
	tests := []struct {
		name   string
		states []subState
		want   string
	}{
		{"the newer live one", []subState{old, newer}, "sub_new"},
		{"a new one replaces a canceled one", []subState{oldEnded, newer}, "sub_new"},
		{"a canceled one's late event does not replace a live one", []subState{newer, oldEnded}, "sub_new"},
		{"a live older one over a newer canceled one", []subState{old, newerEnded}, "sub_old"},
		{"the newer of two canceled ones", []subState{oldEnded, newerEnded}, "sub_new"},
		{"an abandoned checkout does not replace a paying one", []subState{incomplete, old}, "sub_old"},
		{"invoices alone do not replace a known one", []subState{oldEnded, invoiceOnly}, "sub_old"},
		{"invoices alone, when nothing else is known", []subState{invoiceOnly}, "sub_inv"},
	}
	for _, tt := range tests {
		for _, order := range permutations(len(tt.states)) {
			var states []subState
			for _, i := range order {
				states = append(states, tt.states[i])
			}
			if got, _ := currentSubscription(states); got.ID != tt.want {
				t.Errorf("%s: %s, want %s", tt.name, got.ID, tt.want)
			}
		}
	}
}

// A Tenant whose status billing wrote before it kept records by UID starts from that
// status: same-second and newer events apply after it, older ones are stale, and a
// canceled one stays canceled.
func TestSeedRecord(t *testing.T) {
	at := func(unix int64) *aiasv1alpha1.SubscriptionStatus {
		s := subState{ID: "sub_1", Status: "active", PriceID: "price_A", PeriodEnd: 9000, UpdatedAt: unix}
		st := s.status()
		return &st
	}
	r := seedRecord(at(500))
	if s := r.state(); s.Status != "active" || s.PriceID != "price_A" || !s.HasObject {
		t.Fatalf("seeded %+v", s)
	}
	if o := r.place(ev("old", stripeInvoicePaymentFail, 499, "", "")); o != placedStale {
		t.Fatalf("older than the seed: %s", o)
	}
	if o := r.place(ev("same", stripeInvoicePaymentFail, 500, "", "")); o != placedApplied || r.state().Status != "past_due" {
		t.Fatalf("the seed's second: %s %+v", o, r.state())
	}
	canceled := at(500)
	canceled.Status = "canceled"
	r = seedRecord(canceled)
	if o := r.place(ev("paid", stripeInvoicePaid, 600, "", "")); o != placedEnded || r.state().Status != "canceled" {
		t.Fatalf("a seeded canceled subscription: %s %+v", o, r.state())
	}
}
