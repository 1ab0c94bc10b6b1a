package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestBillingEventClaim(t *testing.T) {
	ctx := context.Background()
	e := BillingEvent{ID: "evt_" + newUID(t), Type: "customer.subscription.updated", Customer: "cus_1", Created: time.Unix(1700000000, 0)}

	// Concurrent deliveries of one event: exactly one claim wins.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			ok, err := testStore.ClaimBillingEvent(ctx, e, time.Minute)
			if err != nil {
				t.Error(err)
			}
			if ok {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d claims won, want 1", wins.Load())
	}

	// A released claim can be taken again; a processed event cannot.
	if err := testStore.ReleaseBillingEvent(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.GetBillingEvent(ctx, e.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("released event: %v, want ErrNotFound", err)
	}
	if ok, err := testStore.ClaimBillingEvent(ctx, e, time.Minute); err != nil || !ok {
		t.Fatalf("claim after release: %v %v", ok, err)
	}
	if err := testStore.FinishBillingEvent(ctx, e.ID, "uid-acme", "acme", "applied"); err != nil {
		t.Fatal(err)
	}
	if err := testStore.ReleaseBillingEvent(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	got, err := testStore.GetBillingEvent(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ProcessedAt == nil || got.Tenant != "acme" || got.TenantUID != "uid-acme" || got.Outcome != "applied" || got.Customer != "cus_1" || !got.Created.Equal(e.Created) {
		t.Fatalf("recorded %+v", got)
	}
	if ok, err := testStore.ClaimBillingEvent(ctx, e, time.Millisecond); err != nil || ok {
		t.Fatalf("claim of a processed event: %v %v", ok, err)
	}
}

func TestBillingEventAbandonedClaim(t *testing.T) {
	ctx := context.Background()
	e := BillingEvent{ID: "evt_" + newUID(t), Type: "invoice.paid", Created: time.Now()}
	if ok, err := testStore.ClaimBillingEvent(ctx, e, time.Hour); err != nil || !ok {
		t.Fatalf("first claim: %v %v", ok, err)
	}
	if ok, err := testStore.ClaimBillingEvent(ctx, e, time.Hour); err != nil || ok {
		t.Fatalf("claim while in progress: %v %v", ok, err)
	}
	time.Sleep(20 * time.Millisecond)
	if ok, err := testStore.ClaimBillingEvent(ctx, e, 10*time.Millisecond); err != nil || !ok {
		t.Fatalf("takeover of an abandoned claim: %v %v", ok, err)
	}
}

// Billing state is kept per Tenant UID: what apply returns is stored, an error rolls it
// back, ended subscriptions are bounded, and DeleteTenantBilling forgets one Tenant only.
func TestApplyTenantBillingByUID(t *testing.T) {
	ctx := context.Background()
	uid, other := newUID(t), newUID(t)
	t0 := time.Unix(1700000000, 0).UTC()
	sub := func(id string, ended bool, at time.Time) BillingSubscription {
		return BillingSubscription{ID: id, LastEventCreated: at, LastEventID: "evt_" + id, Ended: ended, Record: []byte(`{"id":"` + id + `"}`)}
	}
	kept := func(uid string) (got []BillingSubscription) {
		t.Helper()
		if err := testStore.ApplyTenantBilling(ctx, uid, "acme", "evt_none", func(_ context.Context, k []BillingSubscription) ([]BillingSubscription, string, error) {
			got = k
			return nil, "", nil
		}); err != nil {
			t.Fatal(err)
		}
		return got
	}
	store := func(uid string, subs ...BillingSubscription) error {
		return testStore.ApplyTenantBilling(ctx, uid, "acme", "evt_none", func(context.Context, []BillingSubscription) ([]BillingSubscription, string, error) {
			return subs, subs[0].ID, nil
		})
	}
	if err := store(uid, sub("sub_live", false, t0)); err != nil {
		t.Fatal(err)
	}
	// The same name, another UID (a re-created Tenant): nothing of the first.
	if err := store(other, sub("sub_other", false, t0)); err != nil {
		t.Fatal(err)
	}
	if got := kept(uid); len(got) != 1 || got[0].ID != "sub_live" || !got[0].LastEventCreated.Equal(t0) || string(got[0].Record) != `{"id": "sub_live"}` {
		t.Fatalf("kept %+v", got)
	}
	// A failing apply stores nothing.
	boom := errors.New("apiserver down")
	if err := testStore.ApplyTenantBilling(ctx, uid, "acme", "evt_none", func(context.Context, []BillingSubscription) ([]BillingSubscription, string, error) {
		return []BillingSubscription{sub("sub_lost", false, t0)}, "sub_lost", boom
	}); !errors.Is(err, boom) {
		t.Fatalf("failing apply: %v", err)
	}
	if got := kept(uid); len(got) != 1 {
		t.Fatalf("a failed apply stored %+v", got)
	}
	// Ended subscriptions beyond the bound are forgotten, oldest first; live ones never.
	for i := range MaxEndedBillingSubscriptions + 3 {
		if err := store(uid, sub(fmt.Sprintf("sub_e%02d", i), true, t0.Add(time.Duration(i)*time.Second))); err != nil {
			t.Fatal(err)
		}
	}
	got := kept(uid)
	if len(got) != MaxEndedBillingSubscriptions+1 || !slices.ContainsFunc(got, func(b BillingSubscription) bool { return b.ID == "sub_live" }) ||
		slices.ContainsFunc(got, func(b BillingSubscription) bool { return b.ID == "sub_e02" }) ||
		!slices.ContainsFunc(got, func(b BillingSubscription) bool { return b.ID == "sub_e03" }) {
		t.Fatalf("kept %d: %+v", len(got), got)
	}
	// Deleting a Tenant's billing forgets its subscriptions and its events (linked when
	// applied, before they are finished), not another's.
	e := BillingEvent{ID: "evt_" + newUID(t), Type: "invoice.paid", Created: t0}
	if _, err := testStore.ClaimBillingEvent(ctx, e, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := testStore.ApplyTenantBilling(ctx, uid, "acme", e.ID, func(context.Context, []BillingSubscription) ([]BillingSubscription, string, error) {
		return []BillingSubscription{sub("sub_live", false, t0.Add(time.Hour))}, "sub_live", nil
	}); err != nil {
		t.Fatal(err)
	}
	if got, err := testStore.GetBillingEvent(ctx, e.ID); err != nil || got.TenantUID != uid || got.Tenant != "acme" {
		t.Fatalf("the applied event's record: %+v %v", got, err)
	}
	if err := testStore.DeleteTenantBilling(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if got := kept(uid); len(got) != 0 {
		t.Fatalf("kept after delete: %+v", got)
	}
	if _, err := testStore.GetBillingEvent(ctx, e.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the Tenant's event after delete: %v", err)
	}
	if got := kept(other); len(got) != 1 || got[0].ID != "sub_other" {
		t.Fatalf("the other Tenant kept %+v", got)
	}
	if n := count(t, `select count(*) from billing_tenants where tenant_uid = $1`, uid); n != 0 {
		t.Fatalf("%d billing_tenants rows after delete", n) // and reading stores nothing
	}
	if err := testStore.DeleteTenantBilling(ctx, other); err != nil {
		t.Fatal(err)
	}
	_ = testStore.DeleteTenantBilling(ctx, uid)
}

// DeleteTenantBilling waits for an event being applied to the Tenant, so that nothing
// applied concurrently outlives the delete.
func TestDeleteTenantBillingWaitsForApply(t *testing.T) {
	ctx := context.Background()
	uid := newUID(t)
	started, release, applied := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		applied <- testStore.ApplyTenantBilling(ctx, uid, "acme", "evt_none", func(context.Context, []BillingSubscription) ([]BillingSubscription, string, error) {
			close(started)
			<-release
			return []BillingSubscription{{ID: "sub_1", LastEventCreated: time.Now(), Record: []byte(`{}`)}}, "sub_1", nil
		})
	}()
	<-started
	deleted := make(chan error, 1)
	go func() { deleted <- testStore.DeleteTenantBilling(ctx, uid) }()
	select {
	case err := <-deleted:
		t.Fatalf("the delete did not wait for the apply: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-applied; err != nil {
		t.Fatal(err)
	}
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	if n := count(t, `select count(*) from billing_subscriptions where tenant_uid = $1`, uid); n != 0 {
		t.Fatalf("%d subscriptions outlived the delete", n)
	}
}
