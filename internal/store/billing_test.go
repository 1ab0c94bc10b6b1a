package store

import (
	"context"
	"errors"
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
	if err := testStore.FinishBillingEvent(ctx, e.ID, "acme", "applied"); err != nil {
		t.Fatal(err)
	}
	if err := testStore.ReleaseBillingEvent(ctx, e.ID); err != nil {
		t.Fatal(err)
	}
	got, err := testStore.GetBillingEvent(ctx, e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ProcessedAt == nil || got.Tenant != "acme" || got.Outcome != "applied" || got.Customer != "cus_1" || !got.Created.Equal(e.Created) {
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

func TestApplyTenantBillingOrder(t *testing.T) {
	ctx := context.Background()
	tenant := "t-" + newUID(t)
	applied := 0
	apply := func(changed bool) func(context.Context) (bool, any, error) {
		return func(context.Context) (bool, any, error) {
			applied++
			return changed, map[string]string{"status": "active"}, nil
		}
	}
	t0 := time.Unix(1700000000, 0)
	if stale, err := testStore.ApplyTenantBilling(ctx, tenant, "evt_2", t0.Add(10*time.Second), apply(true)); err != nil || stale {
		t.Fatalf("first: %v %v", stale, err)
	}
	// Older: stale, not applied.
	if stale, err := testStore.ApplyTenantBilling(ctx, tenant, "evt_1", t0, apply(true)); err != nil || !stale {
		t.Fatalf("older: %v %v", stale, err)
	}
	// Same second: applied.
	if stale, err := testStore.ApplyTenantBilling(ctx, tenant, "evt_3", t0.Add(10*time.Second), apply(true)); err != nil || stale {
		t.Fatalf("same second: %v %v", stale, err)
	}
	// An event that changed nothing does not move the marker.
	if stale, err := testStore.ApplyTenantBilling(ctx, tenant, "evt_4", t0.Add(time.Hour), apply(false)); err != nil || stale {
		t.Fatalf("unchanged: %v %v", stale, err)
	}
	if stale, err := testStore.ApplyTenantBilling(ctx, tenant, "evt_5", t0.Add(20*time.Second), apply(true)); err != nil || stale {
		t.Fatalf("after an unchanged event: %v %v", stale, err)
	}
	if applied != 4 {
		t.Fatalf("apply ran %d times, want 4", applied)
	}
	// A failing apply leaves the marker alone.
	boom := errors.New("apiserver down")
	if _, err := testStore.ApplyTenantBilling(ctx, tenant, "evt_6", t0.Add(2*time.Hour), func(context.Context) (bool, any, error) { return true, nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("failing apply: %v", err)
	}
	if stale, err := testStore.ApplyTenantBilling(ctx, tenant, "evt_7", t0.Add(30*time.Second), apply(true)); err != nil || stale {
		t.Fatalf("after a failed apply: %v %v", stale, err)
	}
	if err := testStore.DeleteTenantBilling(ctx, tenant); err != nil {
		t.Fatal(err)
	}
}
