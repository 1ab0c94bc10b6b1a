package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// 200 Runs start at once against a limit of 100: exactly 100 are counted and may start;
// a granted Run claiming again (a retried reconcile) is granted without counting twice.
func TestClaimRunRespectsLimitUnderRace(t *testing.T) {
	ctx := context.Background()
	period := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	tenant := newUID(t) // the Tenant's UID
	uids := make([]string, 200)
	for i := range uids {
		uids[i] = newUID(t)
	}
	var granted atomic.Int32
	var winner atomic.Value
	var wg sync.WaitGroup
	for _, uid := range uids {
		wg.Go(func() {
			ok, _, err := testStore.ClaimRun(ctx, RunClaim{RunUID: uid, TenantUID: tenant, PeriodStart: period, Limit: 100})
			if err != nil {
				t.Error(err)
			}
			if ok {
				granted.Add(1)
				winner.Store(uid)
			}
		})
	}
	wg.Wait()
	if granted.Load() != 100 {
		t.Fatalf("%d claims granted, want 100", granted.Load())
	}
	if n, _ := testStore.TenantRuns(ctx, tenant, period); n != 100 {
		t.Errorf("counter %d, want 100", n)
	}
	if ok, n, err := testStore.ClaimRun(ctx, RunClaim{RunUID: winner.Load().(string), TenantUID: tenant, PeriodStart: period, Limit: 100}); !ok || n != 100 || err != nil {
		t.Errorf("re-claim by a counted Run: %v %d %v", ok, n, err)
	}
	// A new period starts from zero; no limit means no refusal.
	next := period.AddDate(0, 1, 0)
	if ok, n, _ := testStore.ClaimRun(ctx, RunClaim{RunUID: newUID(t), TenantUID: tenant, PeriodStart: next, Limit: -1}); !ok || n != 1 {
		t.Errorf("next period: %v %d", ok, n)
	}
}
