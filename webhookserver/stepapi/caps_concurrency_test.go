package stepapi

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// parallel runs n calls at once (released together) and returns their statuses and bodies.
func parallel(n int, call func(i int) (int, map[string]any)) ([]int, []map[string]any) {
	codes, bodies := make([]int, n), make([]map[string]any, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			codes[i], bodies[i] = call(i)
		}()
	}
	close(start)
	wg.Wait()
	return codes, bodies
}

// Uploads in parallel store at most the Run's artifactBytesPerRun, small ones (group
// committed) and large ones alike: the cap is reserved in the write's transaction. On main
// each upload checked the remainder before its write, so all of them saw the same one and
// N uploads stored N times what fit.
func TestInternalAPIParallelUploadsStayWithinTheRunCap(t *testing.T) {
	srv, iss := newInternalAPI(t)
	for _, size := range []int{2 << 10, 200 << 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			run := steptoken.Run{Namespace: "acme", Name: "parallel-bytes", UID: servertest.FreshUID()}
			artifactCap := int64(size*5/2) + 7
			if err := testStore.SetRunLimits(context.Background(), run.UID, store.RunLimits{ArtifactBytes: &artifactCap}); err != nil {
				t.Fatal(err)
			}
			const uploads = 8
			attempts := make([]attempt, uploads)
			for i := range attempts {
				attempts[i] = newAttempt(t, iss, run, fmt.Sprintf("s%d", i), 1) // one upload per attempt
			}
			codes, bodies := parallel(uploads, func(i int) (int, map[string]any) {
				body := strings.Repeat(string(rune('a'+i)), size)
				return attempts[i].call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+"out", "text/plain", body)
			})
			created := 0
			for i, code := range codes {
				switch {
				case code == http.StatusCreated:
					created++
				case code != http.StatusRequestEntityTooLarge || bodies[i]["reason"] != "RunArtifactQuota":
					t.Errorf("upload %d: %d %v, want 201 or 413 RunArtifactQuota", i, code, bodies[i])
				}
			}
			arts, err := testStore.ListArtifacts(context.Background(), run.UID)
			if err != nil {
				t.Fatal(err)
			}
			var stored int64
			for _, a := range arts {
				stored += a.Size
			}
			if stored > artifactCap || len(arts) != created || created != 2 {
				t.Errorf("%d uploads of %d bytes under a cap of %d: %d created, %d stored with %d bytes; want 2 within the cap", uploads, size, artifactCap, created, len(arts), stored)
			}
		})
	}
}

// Uploads of new names in parallel stop at MaxArtifactsPerAttempt: the attempt's count is
// reserved in the write's transaction. On main each upload counted before its write, so
// the last free places were taken several times over.
func TestInternalAPIParallelUploadsStayWithinTheArtifactCount(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "parallel-count", UID: servertest.FreshUID()}
	at := newAttempt(t, iss, run, "build", 1)
	for i := range MaxArtifactsPerAttempt - 2 {
		if code, resp := at.call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+fmt.Sprintf("f%03d", i), "text/plain", "x"); code != http.StatusCreated {
			t.Fatalf("artifact %d: %d %v", i, code, resp)
		}
	}
	const uploads = 4 // the attempt's most uploads in flight (the default)
	codes, bodies := parallel(uploads, func(i int) (int, map[string]any) {
		return at.call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+fmt.Sprintf("new%d", i), "text/plain", "y")
	})
	created := 0
	for i, code := range codes {
		switch {
		case code == http.StatusCreated:
			created++
		case code != http.StatusRequestEntityTooLarge || bodies[i]["reason"] != "TooManyArtifacts":
			t.Errorf("upload %d: %d %v, want 201 or 413 TooManyArtifacts", i, code, bodies[i])
		}
	}
	arts, err := testStore.ListArtifacts(context.Background(), run.UID)
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != MaxArtifactsPerAttempt || created != 2 {
		t.Errorf("%d parallel uploads with 2 places left: %d created, %d stored; want 2 and %d", uploads, created, len(arts), MaxArtifactsPerAttempt)
	}
}

// Log batches in parallel never store more than the Run's logBytesPerRun: the new lines'
// bytes are reserved in the transaction that stores them, and a retried batch counts
// nothing. On main each batch read the total, stored, then added: batches in parallel all
// saw the same total.
func TestInternalAPIParallelLogAppendsStayWithinTheRunCap(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "parallel-logs", UID: servertest.FreshUID()}
	const lineBytes = 100
	logCap := int64(4*lineBytes + 50)
	if err := testStore.SetRunLimits(context.Background(), run.UID, store.RunLimits{LogBytes: &logCap}); err != nil {
		t.Fatal(err)
	}
	at := newAttempt(t, iss, run, "build", 1)
	batch := func(seq int) string {
		return fmt.Sprintf(`{"lines":[{"stream":"stdout","seq":%d,"time":"2026-11-26T00:00:00Z","line":%q}]}`, seq, strings.Repeat("z", lineBytes))
	}
	const batches = 16
	codes, bodies := parallel(batches, func(i int) (int, map[string]any) {
		return at.call(t, srv.URL, http.MethodPost, stepjob.PathLogs, "application/json", batch(i+1))
	})
	accepted := 0
	var acceptedSeq int
	for i, code := range codes {
		switch {
		case code == http.StatusOK:
			accepted, acceptedSeq = accepted+1, i+1
		case code != http.StatusRequestEntityTooLarge || bodies[i]["reason"] != "RunLogQuota":
			t.Errorf("batch %d: %d %v, want 200 or 413 RunLogQuota", i, code, bodies[i])
		}
	}
	stored, err := testStore.LogBytes(context.Background(), run.UID)
	if err != nil {
		t.Fatal(err)
	}
	if stored > logCap || stored != int64(accepted*lineBytes) || accepted != 4 {
		t.Errorf("%d parallel batches of %d bytes under a cap of %d: %d accepted, %d bytes stored; want 4 within the cap", batches, lineBytes, logCap, accepted, stored)
	}
	// A retried batch (its lines stored already) is taken again and adds nothing.
	if code, body := at.call(t, srv.URL, http.MethodPost, stepjob.PathLogs, "application/json", batch(acceptedSeq)); code != http.StatusOK || body["inserted"] != float64(0) {
		t.Errorf("retried batch: %d %v, want 200 inserted=0", code, body)
	}
	if _, used, _ := testStore.RunLimits(context.Background(), run.UID); used != stored {
		t.Errorf("log bytes counted %d, stored %d", used, stored)
	}
}

// The bodies of parallel uploads are never confused: each stored artifact holds its own
// content (a guard for the pooled memory the spool reads small uploads into).
func TestInternalAPIParallelUploadsKeepTheirContent(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "parallel-content", UID: servertest.FreshUID()}
	const uploads = 12
	attempts := make([]attempt, uploads)
	for i := range attempts {
		attempts[i] = newAttempt(t, iss, run, fmt.Sprintf("s%d", i), 1)
	}
	content := func(i int) []byte { return bytes.Repeat([]byte{byte('A' + i)}, 1000+i*9000) }
	codes, bodies := parallel(uploads, func(i int) (int, map[string]any) {
		return attempts[i].call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+"out", "application/octet-stream", string(content(i)))
	})
	for i, code := range codes {
		if code != http.StatusCreated {
			t.Fatalf("upload %d: %d %v", i, code, bodies[i])
		}
		a, err := testStore.FindArtifact(context.Background(), run.UID, fmt.Sprintf("s%d", i), "out", 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := readBlob(t, a.Digest); !bytes.Equal(got, content(i)) {
			t.Errorf("upload %d stored %d bytes that differ from the %d sent", i, len(got), len(content(i)))
		}
	}
}
