package store

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync"
	"testing"
	"time"
)

func testDelivery(endpoint, id, body string, byBody bool, at time.Time) Delivery {
	return Delivery{EndpointUID: endpoint, DeliveryID: id, Namespace: "ns", Endpoint: "ep",
		BodySHA256: sha256.Sum256([]byte(body)), BodySize: int64(len(body)), DedupByBody: byBody,
		RunName: "ep-" + id, ReceivedAt: at, Window: time.Hour}
}

// The ledger answers a repeated id, and for body-keyed schemes a repeated body, with
// the first delivery's row; a row past its window no longer counts.
func TestDeliveryLedger(t *testing.T) {
	ctx := context.Background()
	ep := fmt.Sprintf("ep-%d", time.Now().UnixNano())
	t0 := time.Now().Truncate(time.Millisecond)
	must := func(d Delivery, wantPrevID string) {
		t.Helper()
		prev, err := testStore.RecordDelivery(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case wantPrevID == "" && prev != nil:
			t.Errorf("%s: recorded before as %+v, want new", d.DeliveryID, prev)
		case wantPrevID != "" && (prev == nil || prev.DeliveryID != wantPrevID):
			t.Errorf("%s: previous %+v, want %s", d.DeliveryID, prev, wantPrevID)
		}
	}
	must(testDelivery(ep, "d-1", "body", true, t0), "")
	must(testDelivery(ep, "d-1", "body", true, t0.Add(time.Minute)), "d-1")
	must(testDelivery(ep, "d-2", "body", true, t0.Add(time.Minute)), "d-1")             // same body, new id
	must(testDelivery(ep, "d-3", "body", false, t0.Add(time.Minute)), "")               // not body-keyed
	must(testDelivery(ep, "d-4", "other", true, t0.Add(time.Minute)), "")               // new body
	must(testDelivery("another-"+ep, "d-1", "body", true, t0.Add(time.Minute)), "")     // another endpoint
	must(testDelivery(ep, "d-5", "body", true, t0.Add(time.Hour+time.Second)), "")      // d-1 expired
	must(testDelivery(ep, "d-1", "body", true, t0.Add(time.Hour+2*time.Second)), "d-5") // the body is d-5's now
	if err := testStore.MarkDeliveryCreated(ctx, ep, "d-5"); err != nil {
		t.Fatal(err)
	}
	if prev, _ := testStore.RecordDelivery(ctx, testDelivery(ep, "d-5", "x", true, t0.Add(time.Hour+3*time.Second))); prev == nil || prev.Outcome != DeliveryCreated || prev.RunName != "ep-d-5" {
		t.Errorf("after MarkDeliveryCreated: %+v", prev)
	}

	n, err := testStore.PurgeDeliveries(ctx, t0.Add(2*time.Hour+time.Minute), 2)
	if err != nil || n != 2 {
		t.Errorf("purge with a batch of 2: %d %v", n, err)
	}
	var left int
	if err := testStore.pool.QueryRow(ctx, `select count(*) from deliveries where endpoint_uid in ($1, $2)`, ep, "another-"+ep).Scan(&left); err != nil {
		t.Fatal(err)
	}
	if n2, _ := testStore.PurgeDeliveries(ctx, t0.Add(2*time.Hour+time.Minute), 100); int(n2) < left {
		t.Errorf("second purge removed %d of %d expired rows", n2, left)
	}
}

// Concurrent deliveries of one body under different ids: exactly one is new.
func TestDeliveryLedgerConcurrent(t *testing.T) {
	ctx := context.Background()
	ep := fmt.Sprintf("ep-c-%d", time.Now().UnixNano())
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := 0
	for i := range 20 {
		wg.Go(func() {
			prev, err := testStore.RecordDelivery(ctx, testDelivery(ep, fmt.Sprintf("c-%d", i%3), "same", true, time.Now()))
			if err != nil {
				t.Error(err)
				return
			}
			if prev == nil {
				mu.Lock()
				fresh++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if fresh != 1 {
		t.Errorf("%d deliveries recorded as new, want 1", fresh)
	}
}

// A burst of deliveries, as the group committer batches them: every distinct delivery is
// new exactly once (its repeats in the same burst, under its id or its body, are not), and
// every mark lands.
func TestDeliveryLedgerBurst(t *testing.T) {
	ctx := context.Background()
	ep := fmt.Sprintf("ep-b-%d", time.Now().UnixNano())
	const distinct, repeats = 150, 3
	var wg sync.WaitGroup
	var mu sync.Mutex
	fresh := map[string]int{}
	for i := range distinct * repeats {
		wg.Go(func() {
			id := fmt.Sprintf("b-%d", i%distinct)
			if i >= 2*distinct {
				id = fmt.Sprintf("other-id-%d", i) // the same body under another id
			}
			prev, err := testStore.RecordDelivery(ctx, testDelivery(ep, id, fmt.Sprintf("body-%d", i%distinct), true, time.Now()))
			if err != nil {
				t.Error(err)
				return
			}
			if prev == nil {
				mu.Lock()
				fresh[fmt.Sprintf("body-%d", i%distinct)]++
				mu.Unlock()
				if err := testStore.MarkDeliveryCreated(ctx, ep, id); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	for i := range distinct {
		if n := fresh[fmt.Sprintf("body-%d", i)]; n != 1 {
			t.Errorf("body-%d recorded as new %d times, want 1", i, n)
		}
	}
	var rows, created int
	if err := testStore.pool.QueryRow(ctx, `select count(*), count(*) filter (where outcome = $2) from deliveries where endpoint_uid = $1`,
		ep, DeliveryCreated).Scan(&rows, &created); err != nil {
		t.Fatal(err)
	}
	if rows != distinct || created != distinct {
		t.Errorf("ledger holds %d rows, %d created; want %d and %d", rows, created, distinct, distinct)
	}
}
