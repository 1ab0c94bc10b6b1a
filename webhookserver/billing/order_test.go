package billing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/billing"
)

// Stripe's event order, per subscription: these tests deliver real event sequences signed
// with stripe-go's test signer to the billing endpoint, in order and shuffled.

// deliver POSTs one signed Stripe event and returns the answer's status ("applied", ...).
// It reports through t, so that it may run in any test's goroutine.
func (b *billingEnv) deliver(t *testing.T, body []byte) string {
	t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: b.secret, Timestamp: time.Now()})
	req, _ := http.NewRequest(http.MethodPost, b.url+billing.Path, bytes.NewReader(body))
	req.Header.Set("Stripe-Signature", signed.Header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Status string `json:"status"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &out) != nil {
		t.Fatalf("delivery answered %d %s", resp.StatusCode, raw)
	}
	return out.Status
}

// createTenant creates the Tenant name billed to customer and waits until the listener's
// cache finds it by customer; it returns the Tenant's UID.
func (b *billingEnv) createTenant(t *testing.T, name, customer string) types.UID {
	t.Helper()
	tn := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: aiasv1alpha1.TenantSpec{Billing: &aiasv1alpha1.TenantBilling{StripeCustomerID: customer}}}
	if err := testEnv.Client.Create(b.ctx, tn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = testEnv.Client.Delete(context.Background(), tn) })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		names, err := b.billing.Tenants.TenantsForCustomer(b.ctx, customer)
		if err == nil && len(names) == 1 {
			return tn.UID
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cache never found tenant %s: %v %v", name, names, err)
		}
	}
}

// tenantSubscription reads the Tenant's status.subscription fresh (empty when unset).
func tenantSubscription(t *testing.T, name string) aiasv1alpha1.SubscriptionStatus {
	t.Helper()
	var tn aiasv1alpha1.Tenant
	if err := testEnv.Client.Get(context.Background(), client.ObjectKey{Name: name}, &tn); err != nil {
		t.Fatal(err)
	}
	if tn.Status.Subscription == nil {
		return aiasv1alpha1.SubscriptionStatus{}
	}
	return *tn.Status.Subscription
}

// sameSubscription compares what billing writes: id, status, price, period end, past due
// since, updated at.
func sameSubscription(a, b aiasv1alpha1.SubscriptionStatus) bool {
	sameTime := func(x, y *metav1.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(y)) }
	return a.ID == b.ID && a.Status == b.Status && a.PriceID == b.PriceID && sameTime(a.CurrentPeriodEnd, b.CurrentPeriodEnd) &&
		sameTime(a.PastDueSince, b.PastDueSince) && sameTime(a.UpdatedAt, b.UpdatedAt)
}

func showSubscription(s aiasv1alpha1.SubscriptionStatus) string {
	ts := func(t *metav1.Time) string {
		if t == nil {
			return "-"
		}
		return t.UTC().Format(time.TimeOnly)
	}
	return fmt.Sprintf("{id:%s status:%s price:%s periodEnd:%s pastDueSince:%s updatedAt:%s}",
		s.ID, s.Status, s.PriceID, ts(s.CurrentPeriodEnd), ts(s.PastDueSince), ts(s.UpdatedAt))
}

// resetTenantBilling forgets what billing keeps for the Tenant and clears its status, so
// that one Tenant serves many orders of a sequence.
func resetTenantBilling(t *testing.T, name string, uid types.UID) {
	t.Helper()
	if err := testStore.DeleteTenantBilling(context.Background(), string(uid)); err != nil {
		t.Fatal(err)
	}
	tn := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if err := testEnv.Client.Status().Patch(context.Background(), tn,
		client.RawPatch(types.MergePatchType, []byte(`{"status":{"subscription":null}}`))); err != nil {
		t.Fatal(err)
	}
}

// deliveryOrders lists the orders in which the events are delivered: in order, reversed,
// every order of the groups of events created in distinct seconds (each group in its own
// order), then shuffles from a fixed seed. Every order of every sequence is covered by
// the pure TestStripeSequencesEveryOrder; these go through the signed endpoint.
func deliveryOrders(events []billing.StripeTestEvent, shuffles int) [][]int {
	var groups [][]int
	for i, e := range events {
		if len(groups) > 0 && events[groups[len(groups)-1][0]].Created.Equal(e.Created) {
			groups[len(groups)-1] = append(groups[len(groups)-1], i)
		} else {
			groups = append(groups, []int{i})
		}
	}
	var orders [][]int
	seen := map[string]bool{}
	add := func(o []int) {
		if k := fmt.Sprint(o); !seen[k] {
			seen[k] = true
			orders = append(orders, o)
		}
	}
	var permute func(p [][]int, k int)
	permute = func(p [][]int, k int) {
		if k == len(p) {
			add(slices.Concat(p...))
			return
		}
		for i := k; i < len(p); i++ {
			p[k], p[i] = p[i], p[k]
			permute(p, k+1)
			p[k], p[i] = p[i], p[k]
		}
	}
	permute(slices.Clone(groups), 0) // the first is the order itself
	reversed := slices.Concat(groups...)
	slices.Reverse(reversed)
	add(reversed)
	rng := rand.New(rand.NewPCG(21, 4))
	for range shuffles {
		p := slices.Concat(groups...)
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		add(p)
	}
	return orders
}

// Every real sequence (a cancel, a failed payment recovered, an upgrade, a failed payment,
// a move to a new subscription), delivered in order and shuffled (deliveryOrders), leaves
// the Tenant with the in-order result; redeliveries change nothing. On main (16ef044) the cancel
// fails even in order (the final invoice.paid revives the deleted subscription) and other
// orders lose events to the Tenant-wide order.
func TestBillingStripeSequencesInAnyOrder(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i, seq := range billing.StripeSequences("cus_x", "x", "x", t0) {
		t.Run(seq.Name, func(t *testing.T) {
			t.Parallel() // one Tenant per sequence
			name, customer, tag := "billing-seq-"+uniq(), "cus_S"+uniq(), uniq()
			uid := b.createTenant(t, name, customer)
			orders := deliveryOrders(seq.Events, 8)
			var inOrder aiasv1alpha1.SubscriptionStatus
			for k, order := range orders {
				// Fresh event ids for each order (an event id is applied once, ever).
				events := billing.StripeSequences(customer, tag, fmt.Sprintf("%s%d", uniq(), k), t0)[i]
				for _, ev := range events.Events {
					var parsed stripe.Event
					if err := json.Unmarshal(ev.Body, &parsed); err != nil || parsed.Data == nil || parsed.Data.Object["id"] == nil {
						t.Fatalf("an event stripe-go cannot read: %v", err)
					}
				}
				resetTenantBilling(t, name, uid)
				var answers []string
				for _, j := range order {
					answers = append(answers, events.Events[j].Type+":"+b.deliver(t, events.Events[j].Body))
				}
				got := tenantSubscription(t, name)
				if k == 0 {
					inOrder = got
				}
				if !sameSubscription(got, events.Want) || !sameSubscription(got, inOrder) {
					t.Fatalf("delivered in order %v (answers %v):\n got %s\nwant %s (in order: %s)", order, answers,
						showSubscription(got), showSubscription(events.Want), showSubscription(inOrder))
				}
				for _, j := range order {
					if got := b.deliver(t, events.Events[j].Body); got != "duplicate" {
						t.Fatalf("redelivered %s answered %q, want duplicate", events.Events[j].Type, got)
					}
				}
				if again := tenantSubscription(t, name); !sameSubscription(again, got) {
					t.Fatalf("redeliveries changed the subscription: %s -> %s", showSubscription(got), showSubscription(again))
				}
			}
			t.Logf("%d orders", len(orders))
		})
	}
}

// An invoice.paid or invoice.payment_failed for a deleted subscription never revives it.
// On main (16ef044) invoice.paid set it active and invoice.payment_failed past_due.
func TestBillingDeletedSubscriptionStaysCanceled(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	name, customer := b.tenant()
	sub := "sub_" + uniq()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := t0.Add(30 * 24 * time.Hour)
	b.expect(stripeEvent("evt_c"+uniq(), "customer.subscription.created", t0, subscriptionObject(sub, customer, "active", "price_pro", end)), http.StatusOK, "applied")
	b.expect(stripeEvent("evt_d"+uniq(), "customer.subscription.deleted", t0.Add(10*time.Second), subscriptionObject(sub, customer, "canceled", "price_pro", end)), http.StatusOK, "applied")
	for i, typ := range []string{"invoice.paid", "invoice.payment_failed", "invoice.paid"} {
		b.post(stripeEvent("evt_i"+uniq(), typ, t0.Add(time.Duration(20+i)*time.Second), invoiceObject(customer, sub)))
		if s := b.subscription(name); s.ID != sub || s.Status != "canceled" || s.PastDueSince != nil {
			t.Fatalf("after a late %s the deleted subscription is %s", typ, showSubscription(*s))
		}
	}
	// So does an update of the same second as the deletion, delivered after it.
	b.post(stripeEvent("evt_u"+uniq(), "customer.subscription.updated", t0.Add(10*time.Second), subscriptionObject(sub, customer, "active", "price_pro", end)))
	if s := b.subscription(name); s.Status != "canceled" {
		t.Fatalf("after an update of the deletion's second the deleted subscription is %s", showSubscription(*s))
	}
}

// A customer.subscription.updated of the deletion's second, delivered after the deletion
// (Stripe's timestamps have one-second resolution), does not revive the subscription. On
// main (16ef044) same-second events were never stale to each other: it came back active.
func TestBillingSameSecondUpdateAfterDelete(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	name, customer := b.tenant()
	sub := "sub_" + uniq()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := t0.Add(30 * 24 * time.Hour)
	b.expect(stripeEvent("evt_c"+uniq(), "customer.subscription.created", t0, subscriptionObject(sub, customer, "active", "price_pro", end)), http.StatusOK, "applied")
	b.expect(stripeEvent("evt_d"+uniq(), "customer.subscription.deleted", t0.Add(time.Second), subscriptionObject(sub, customer, "canceled", "price_pro", end)), http.StatusOK, "applied")
	b.post(stripeEvent("evt_u"+uniq(), "customer.subscription.updated", t0.Add(time.Second), subscriptionObject(sub, customer, "active", "price_pro", end)))
	b.post(stripeEvent("evt_c2"+uniq(), "customer.subscription.created", t0.Add(time.Second), subscriptionObject(sub, customer, "active", "price_pro", end)))
	if s := b.subscription(name); s.ID != sub || s.Status != "canceled" {
		t.Fatalf("the deleted subscription came back: %s", showSubscription(*s))
	}
}

// Events are ordered per subscription, not per Tenant: a customer moving from A to B
// (B's invoice.paid delivered late, after A's cancellation) ends on B, active. On main
// (16ef044) A's newer events made B's invoice.paid stale and the Tenant ended on A,
// canceled.
func TestBillingOrderIsPerSubscription(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	name, customer := b.tenant()
	subA, subB := "sub_A"+uniq(), "sub_B"+uniq()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := t0.Add(30 * 24 * time.Hour)
	a := subscriptionObject(subA, customer, "active", "price_basic", end)
	bObj := subscriptionObject(subB, customer, "incomplete", "price_pro", end)
	bObj["created"] = t0.Add(10 * time.Second).Unix()
	cancelA := subscriptionObject(subA, customer, "active", "price_basic", end)
	cancelA["cancel_at_period_end"] = true
	for _, ev := range [][]byte{
		stripeEvent("evt_a1"+uniq(), "customer.subscription.created", t0, a),
		stripeEvent("evt_b1"+uniq(), "customer.subscription.created", t0.Add(10*time.Second), bObj),
		stripeEvent("evt_a2"+uniq(), "customer.subscription.updated", t0.Add(12*time.Second), cancelA),
		stripeEvent("evt_a3"+uniq(), "customer.subscription.deleted", t0.Add(13*time.Second), subscriptionObject(subA, customer, "canceled", "price_basic", end)),
		stripeEvent("evt_b2"+uniq(), "invoice.paid", t0.Add(10*time.Second), invoiceObject(customer, subB)), // delivered late
	} {
		b.post(ev)
	}
	if s := b.subscription(name); s.ID != subB || s.Status != "active" || s.PriceID != "price_pro" {
		t.Fatalf("the Tenant's subscription is %s, want %s active on price_pro", showSubscription(*s), subB)
	}
}

// A Tenant deleted and re-created with the same name starts with no billing state. On
// main (16ef044) the ordering state was keyed by name: the new Tenant's first event, older
// than the old Tenant's last one, was answered stale and not applied.
func TestBillingRecreatedTenantStartsFresh(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	name := "billing-re-" + uniq()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := t0.Add(30 * 24 * time.Hour)
	oldCustomer := "cus_Old" + uniq()
	b.createTenant(t, name, oldCustomer)
	b.expect(stripeEvent("evt_o"+uniq(), "customer.subscription.created", t0.Add(time.Minute),
		subscriptionObject("sub_old"+uniq(), oldCustomer, "active", "price_pro", end)), http.StatusOK, "applied")
	if err := testEnv.Client.Delete(b.ctx, &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		err := testEnv.Client.Get(b.ctx, client.ObjectKey{Name: name}, &aiasv1alpha1.Tenant{})
		if apierrors.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Tenant is not gone: %v", err)
		}
	}
	newCustomer, sub := "cus_New"+uniq(), "sub_new"+uniq()
	b.createTenant(t, name, newCustomer)
	if got := b.deliver(t, stripeEvent("evt_n"+uniq(), "customer.subscription.created", t0,
		subscriptionObject(sub, newCustomer, "active", "price_basic", end))); got != "applied" {
		t.Fatalf("the re-created Tenant's first event answered %q, want applied", got)
	}
	if s := b.subscription(name); s.ID != sub || s.Status != "active" || s.PriceID != "price_basic" {
		t.Fatalf("the re-created Tenant's subscription is %s", showSubscription(*s))
	}
}

// A Tenant whose status.subscription was written before billing kept records per UID (an
// upgrade) continues from that status: older events are stale, an invoice of another
// subscription does not replace it, and its deletion ends it for good.
func TestBillingStartsFromTheTenantStatus(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	name, customer := "billing-seed-"+uniq(), "cus_Seed"+uniq()
	b.createTenant(t, name, customer)
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := t0.Add(30 * 24 * time.Hour)
	sub := "sub_seed" + uniq()
	status := fmt.Sprintf(`{"status":{"subscription":{"id":%q,"status":"active","priceID":"price_pro","currentPeriodEnd":%q,"updatedAt":%q}}}`,
		sub, end.UTC().Format(time.RFC3339), t0.Add(time.Minute).UTC().Format(time.RFC3339))
	if err := testEnv.Client.Status().Patch(b.ctx, &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}},
		client.RawPatch(types.MergePatchType, []byte(status))); err != nil {
		t.Fatal(err)
	}
	before := tenantSubscription(t, name)
	if got := b.deliver(t, stripeEvent("evt_old"+uniq(), "invoice.payment_failed", t0.Add(30*time.Second), invoiceObject(customer, sub))); got != "stale" {
		t.Fatalf("an event older than the status answered %q, want stale", got)
	}
	if got := b.deliver(t, stripeEvent("evt_oth"+uniq(), "invoice.paid", t0.Add(90*time.Second), invoiceObject(customer, "sub_other"+uniq()))); got != "applied" {
		t.Fatalf("an invoice of another subscription answered %q, want applied", got)
	}
	if s := tenantSubscription(t, name); !sameSubscription(s, before) {
		t.Fatalf("the status changed from %s to %s", showSubscription(before), showSubscription(s))
	}
	b.expect(stripeEvent("evt_del"+uniq(), "customer.subscription.deleted", t0.Add(2*time.Minute), subscriptionObject(sub, customer, "canceled", "price_pro", end)), http.StatusOK, "applied")
	if got := b.deliver(t, stripeEvent("evt_late"+uniq(), "invoice.paid", t0.Add(3*time.Minute), invoiceObject(customer, sub))); got != "ended" {
		t.Fatalf("an invoice after the deletion answered %q, want ended", got)
	}
	if s := tenantSubscription(t, name); s.ID != sub || s.Status != "canceled" || s.PriceID != "price_pro" {
		t.Fatalf("after the deletion: %s", showSubscription(s))
	}
}

// Nothing is applied to a Tenant being deleted: its finalizer deletes what billing keeps
// for it, and nothing may be added after.
func TestBillingSkipsTenantBeingDeleted(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	name, customer := "billing-del-"+uniq(), "cus_Del"+uniq()
	uid := b.createTenant(t, name, customer)
	tn := &aiasv1alpha1.Tenant{}
	if err := testEnv.Client.Get(b.ctx, client.ObjectKey{Name: name}, tn); err != nil {
		t.Fatal(err)
	}
	tn.Finalizers = append(tn.Finalizers, aiasv1alpha1.TenantFinalizer)
	if err := testEnv.Client.Update(b.ctx, tn); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = testEnv.Client.Patch(context.Background(), tn, client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
	})
	if err := testEnv.Client.Delete(b.ctx, tn); err != nil {
		t.Fatal(err)
	}
	id := "evt_del" + uniq()
	if got := b.deliver(t, stripeEvent(id, "customer.subscription.created", time.Now().Add(-time.Minute),
		subscriptionObject("sub_"+uniq(), customer, "active", "price_pro", time.Now().Add(time.Hour)))); got != "unmatched" {
		t.Fatalf("an event for a Tenant being deleted answered %q, want unmatched", got)
	}
	if s := tenantSubscription(t, name); s.ID != "" {
		t.Fatalf("applied to a Tenant being deleted: %s", showSubscription(s))
	}
	if rec, err := testStore.GetBillingEvent(b.ctx, id); err != nil || rec.TenantUID != "" {
		t.Fatalf("the event's record names the Tenant: %+v %v", rec, err)
	}
	if err := testStore.ApplyTenantBilling(b.ctx, string(uid), name, "", func(_ context.Context, kept []store.BillingSubscription) ([]store.BillingSubscription, string, error) {
		if len(kept) != 0 {
			t.Errorf("billing kept %d subscriptions for a Tenant being deleted", len(kept))
		}
		return nil, "", nil
	}); err != nil {
		t.Fatal(err)
	}
}
