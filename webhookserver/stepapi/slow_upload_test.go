package stepapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// Slow uploaders hold no database connection: 24 uploads of one namespace trickling at
// 2 KB/s leave the pool idle, and another tenant's log append goes through at once. Each
// sends more than the small-artifact size (64 KiB) at once, then trickles. On main,
// PutArtifact opened its transaction after that much and read the rest inside it, so the
// uploads took every connection of the pool (the greater of 4 and the CPUs) for as long as
// they trickled, and the other tenant's request waited for them.
func TestInternalAPISlowUploadsHoldNoDatabaseConnection(t *testing.T) {
	srv, iss := newInternalAPI(t)
	const uploads = 24
	slow := steptoken.Run{Namespace: "slow", Name: "trickle", UID: servertest.FreshUID()}
	head := bytes.Repeat([]byte("h"), 64<<10+1)
	step := bytes.Repeat([]byte("t"), 512) // every 250 ms: 2 KB/s
	attempts := make([]attempt, uploads)
	for i := range attempts {
		attempts[i] = newAttempt(t, iss, slow, fmt.Sprintf("s%d", i), 1)
	}
	other := newAttempt(t, iss, steptoken.Run{Namespace: "other", Name: "busy", UID: servertest.FreshUID()}, "build", 1)
	trickles := make([]*trickle, uploads)
	results := make([]<-chan uploadResult, uploads)
	for i, at := range attempts {
		trickles[i] = newTrickle(head, step, 250*time.Millisecond)
		results[i] = startUpload(srv.URL, at, "slow.bin", trickles[i].pr)
	}
	defer func() {
		for _, tr := range trickles {
			tr.end()
		}
	}()

	// Once the uploads are under way (their requests checked, which takes a query each),
	// the pool stays idle for as long as they trickle: 25 samples in a row, half a
	// second, without a connection taken.
	pool := testStore.Pool()
	idle, held := 0, int32(0)
	for deadline := time.Now().Add(5 * time.Second); idle < 25 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if held = pool.Stat().AcquiredConns(); held == 0 {
			idle++
		} else {
			idle = 0
		}
	}
	if idle < 25 {
		t.Errorf("%d trickling uploads hold %d of the pool's %d connections", uploads, held, pool.Stat().MaxConns())
	}
	for i, res := range results {
		if len(res) > 0 {
			t.Fatalf("upload %d ended before it was sent: %+v", i, <-res)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	began := time.Now()
	req := other.request(http.MethodPost, srv.URL, stepjob.PathLogs, "application/json",
		bytes.NewReader([]byte(`{"lines":[{"stream":"stdout","seq":1,"time":"2026-11-26T00:00:00Z","line":"hello"}]}`))).WithContext(ctx)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("another tenant's log append while %d uploads trickle: %v after %s", uploads, err, time.Since(began))
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("another tenant's log append: %d", resp.StatusCode)
	}

	for i, tr := range trickles {
		sent := tr.end()
		res := <-results[i]
		if res.err != nil || res.code != http.StatusCreated || res.body["size"] != float64(sent) {
			t.Errorf("upload %d of %d bytes: %d %v %v", i, sent, res.code, res.body, res.err)
		}
	}
}

// A step attempt uploads at most 4 artifacts at once: of five slow uploads one is
// answered 429 TooManyUploads with Retry-After at once (step-run retries it), and an
// upload goes through again once a slot is free. On main there was no such cap: all five
// went on.
func TestInternalAPIUploadsPerAttemptAreCapped(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "busy-attempt", UID: servertest.FreshUID()}
	at := newAttempt(t, iss, run, "build", 1)
	const uploads = 5
	trickles := make([]*trickle, uploads)
	results := make([]<-chan uploadResult, uploads)
	for i := range uploads {
		trickles[i] = newTrickle([]byte("x"), []byte("y"), 50*time.Millisecond)
		results[i] = startUpload(srv.URL, at, fmt.Sprintf("slow%d", i), trickles[i].pr)
	}
	defer func() {
		for _, tr := range trickles {
			tr.end()
		}
	}()
	refused := -1
	timeout := time.After(5 * time.Second)
	for refused < 0 {
		select {
		case <-timeout:
			t.Fatalf("%d slow uploads of one attempt all go on, want one refused", uploads)
		default:
		}
		for i, res := range results {
			select {
			case r := <-res:
				if r.code != http.StatusTooManyRequests || r.body["reason"] != "TooManyUploads" || r.retryAfter == "" {
					t.Fatalf("upload %d: %d %v (Retry-After %q, %v), want 429 TooManyUploads with Retry-After", i, r.code, r.body, r.retryAfter, r.err)
				}
				refused = i
			default:
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if c, b := newAttempt(t, iss, run, "other", 1).call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+"x", "text/plain", "z"); c != http.StatusCreated {
		t.Errorf("another attempt's upload meanwhile: %d %v", c, b)
	}
	first := (refused + 1) % uploads
	trickles[first].end()
	if r := <-results[first]; r.code != http.StatusCreated {
		t.Fatalf("a slow upload once ended: %d %v %v", r.code, r.body, r.err)
	}
	if c, b := at.call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+"again", "text/plain", "z"); c != http.StatusCreated {
		t.Errorf("an upload of the attempt once a slot is free: %d %v", c, b)
	}
}
