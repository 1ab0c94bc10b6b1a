package store

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// Marks and log rows written together land together; a row PostgreSQL refuses (text
// cannot hold a NUL byte) fails alone and loses none of the notes batched with it.
func TestDeliveryNotesBatch(t *testing.T) {
	ctx := context.Background()
	ep := fmt.Sprintf("notes-%d", time.Now().UnixNano())
	t0 := time.Now().Truncate(time.Millisecond)
	const n = 40
	for i := range n {
		if _, err := testStore.RecordDelivery(ctx, testDelivery(ep, fmt.Sprintf("d-%d", i), fmt.Sprint(i), false, t0)); err != nil {
			t.Fatal(err)
		}
	}
	// Every note is submitted at once, well within the committer's linger, so the bad
	// row shares a batch with the good ones.
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n+2)
	expires := t0.Add(time.Hour)
	for i := range n {
		wg.Go(func() { <-start; errs[i] = testStore.MarkDeliveryCreated(ctx, ep, fmt.Sprintf("d-%d", i)) })
		wg.Go(func() {
			<-start
			d := LoggedDelivery{Namespace: "ns", Endpoint: "ep", EndpointUID: ep, ReceivedAt: t0, Verified: true,
				DeliveryID: fmt.Sprintf("d-%d", i), Outcome: "created", Status: 202, BodySize: 1, RunName: "ep-" + fmt.Sprint(i)}
			if i%2 == 0 { // half keep their body
				d.Body, d.ContentType, d.Headers, d.BodyExpiresAt = []byte{0, 1}, "application/json", map[string]string{"X-A": "b"}, &expires
			}
			_ = testStore.LogDelivery(ctx, d)
		})
	}
	wg.Go(func() {
		<-start
		errs[n] = testStore.LogDelivery(ctx, LoggedDelivery{Namespace: "ns", Endpoint: "ep", EndpointUID: ep, ReceivedAt: t0,
			Verified: true, DeliveryID: "bad\x00id", Outcome: "created", Status: 202})
	})
	wg.Go(func() {
		<-start
		errs[n+1] = testStore.LogDelivery(ctx, LoggedDelivery{Namespace: "ns", Endpoint: "ep", EndpointUID: ep, ReceivedAt: t0,
			Outcome: "invalid", Status: 401})
	})
	close(start)
	wg.Wait()
	for i, err := range errs[:n] {
		if err != nil {
			t.Errorf("mark d-%d: %v", i, err)
		}
	}
	if errs[n] == nil {
		t.Error("a delivery id with a NUL byte was stored")
	}
	if errs[n+1] != nil {
		t.Errorf("unverified row: %v", errs[n+1])
	}
	var pending, logged, bodies, counted int
	q := func(sql string, dst *int) {
		t.Helper()
		if err := testStore.pool.QueryRow(ctx, sql, ep).Scan(dst); err != nil {
			t.Fatal(err)
		}
	}
	q(`select count(*) from deliveries where endpoint_uid = $1 and outcome <> 'created'`, &pending)
	q(`select count(*) from delivery_log where endpoint_uid = $1 and verified`, &logged)
	q(`select count(*) from delivery_log where endpoint_uid = $1 and verified and body is not null and headers->>'X-A' = 'b'`, &bodies)
	q(`select coalesce(sum(count), 0) from delivery_log where endpoint_uid = $1 and not verified`, &counted)
	if pending != 0 || logged != n || bodies != n/2 || counted != 1 {
		t.Errorf("pending %d (want 0), logged %d (want %d), with body %d (want %d), counted %d (want 1)", pending, logged, n, bodies, n/2, counted)
	}
}
