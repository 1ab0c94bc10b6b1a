package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// The bodies a namespace's delivery log keeps are held to its plan's deliveryLogBytes:
// the oldest go first, the newest stay, the count matches what is kept, and every way a
// body goes (trimming, expiry, deleting rows) is counted. Reproduces issue 21: before,
// every verified delivery kept its whole body for the retention, however many.
func TestDeliveryLogBodiesHeldToTheBudget(t *testing.T) {
	ctx := context.Background()
	ns := fmt.Sprintf("budget-%d", time.Now().UnixNano())
	other := ns + "-other"
	const size, budget, n = 1000, 10_500, 40
	t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
	expires := t0.Add(time.Hour)
	log := func(namespace string, i int, withBudget bool) {
		d := LoggedDelivery{Namespace: namespace, Endpoint: "ep", EndpointUID: namespace + "-uid", ReceivedAt: t0.Add(time.Duration(i) * time.Millisecond),
			Verified: true, DeliveryID: fmt.Sprintf("d-%d", i), Outcome: "created", Status: 202, BodySize: size,
			Body: bytes.Repeat([]byte{byte(i)}, size), ContentType: "application/json", BodyExpiresAt: &expires}
		if withBudget {
			b := int64(budget)
			d.BodyBudget = &b
		}
		if err := testStore.LogDelivery(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		log(ns, i, true)
		log(other, i, false) // a neighbour without a budget keeps all of its own
	}
	kept, err := testStore.DeliveryLogBytes(ctx, ns)
	if err != nil {
		t.Fatal(err)
	}
	if kept > budget || kept < budget-size {
		t.Fatalf("namespace keeps %d bytes of bodies, want at most the budget %d and within one body of it", kept, budget)
	}
	var rows, withBody, sum int64
	var oldestKept int
	if err := testStore.pool.QueryRow(ctx, `select count(*), count(body), coalesce(sum(body_size) filter (where body is not null), 0),
		coalesce(min(substr(delivery_id, 3)::int) filter (where body is not null), -1) from delivery_log where namespace = $1`, ns).
		Scan(&rows, &withBody, &sum, &oldestKept); err != nil {
		t.Fatal(err)
	}
	if rows != n || sum != kept || oldestKept != n-int(withBody) {
		t.Fatalf("rows %d (want %d), kept bodies %d summing %d (counter %d), oldest kept d-%d (want the newest %d kept)", rows, n, withBody, sum, kept, oldestKept, withBody)
	}
	if all, _ := testStore.DeliveryLogBytes(ctx, other); all != n*size {
		t.Fatalf("the neighbour without a budget keeps %d bytes, want all %d", all, n*size)
	}
	// Expiry and deletion are counted too.
	if _, err := testStore.PurgeDeliveryBodies(ctx, expires.Add(time.Second), 1000); err != nil {
		t.Fatal(err)
	}
	if left, _ := testStore.DeliveryLogBytes(ctx, other); left != 0 {
		t.Fatalf("after expiry the neighbour's counter says %d bytes", left)
	}
	log(other, n, false)
	if _, err := testStore.pool.Exec(ctx, `delete from delivery_log where namespace = $1`, other); err != nil {
		t.Fatal(err)
	}
	if left, _ := testStore.DeliveryLogBytes(ctx, other); left != 0 {
		t.Fatalf("after deleting the rows the counter says %d bytes", left)
	}
}

// A note queue at its bound refuses at once instead of holding more: the caller answers
// its client 503 rather than buffer without bound.
func TestNoteQueueRefusesWhenFull(t *testing.T) {
	stuck := make(chan struct{}) // a database that does not answer until the test ends
	t.Cleanup(func() { close(stuck) })
	q := &notesCommitter{exec: func(context.Context, []*groupItem[deliveryNote, struct{}]) error {
		<-stuck
		return errors.New("gone")
	}, maxItems: 1, flushers: 1, size: deliveryNote.bytes, maxQueued: 3, maxQueuedBytes: 10 << 10}
	mark := deliveryNote{mark: &deliveryKey{"ep", "d"}}
	accepted := 0
	for range 10 {
		if err := q.enqueue(mark); err == nil {
			accepted++
		} else if !errors.Is(err, ErrQueueFull) {
			t.Fatal(err)
		}
	}
	// One batch is taken by the (stuck) flusher, then three wait.
	if accepted > 4 {
		t.Fatalf("a queue bounded at 3 notes accepted %d", accepted)
	}
	big := deliveryNote{log: &LoggedDelivery{Body: make([]byte, 20<<10)}}
	if err := q.enqueue(big); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("a note larger than the byte bound: %v", err)
	}
}

// A verified delivery whose body the note queue has no room for is logged without it
// (not redeliverable) instead of being refused: before, a 32 MiB body to an endpoint
// that allows one was answered 503 whenever the log kept bodies (its queue holds 16 MiB).
func TestDeliveryLogDropsABodyTheQueueCannotHold(t *testing.T) {
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	taken := make(chan *LoggedDelivery, 1)
	s := &Store{notes: &notesCommitter{exec: func(_ context.Context, batch []*groupItem[deliveryNote, struct{}]) error {
		taken <- batch[0].in.log
		<-stuck
		return errors.New("gone")
	}, maxItems: 1, flushers: 1, size: deliveryNote.bytes, maxQueued: 10, maxQueuedBytes: 64 << 10}}
	if got := s.MaxLoggedBodyBytes(); got != 32<<10 {
		t.Fatalf("MaxLoggedBodyBytes = %d, want half the queue", got)
	}
	big := LoggedDelivery{Namespace: "a", Verified: true, DeliveryID: "d", Body: make([]byte, 100<<10), Headers: map[string]string{"x": "y"}}
	if err := s.EnqueueDeliveryLog(big); err != nil {
		t.Fatalf("a delivery whose body does not fit: %v", err)
	}
	select {
	case d := <-taken:
		if d.Body != nil || d.Headers != nil || d.DeliveryID != "d" {
			t.Errorf("queued %+v; want the row without its body", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("nothing was queued")
	}
}
