package stepapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// boundedAPI is an internal API with the given upload bounds, spooling into a directory of
// the test's (returned, to check that no temporary file outlives its upload).
func boundedAPI(t *testing.T, u UploadLimits) (*httptest.Server, *steptoken.Issuer, string) {
	t.Helper()
	iss, err := steptoken.NewIssuer(bytes.Repeat([]byte("b"), 32))
	if err != nil {
		t.Fatal(err)
	}
	u.SpoolDir = t.TempDir()
	srv := httptest.NewServer((&Server{Store: testStore, Tokens: iss, MaxLogBatch: 1000, Uploads: u}).Handler())
	t.Cleanup(srv.Close)
	return srv, iss, u.SpoolDir
}

// awaitResult waits for an upload's answer.
func awaitResult(t *testing.T, res <-chan uploadResult, within time.Duration) uploadResult {
	t.Helper()
	select {
	case r := <-res:
		return r
	case <-time.After(within):
		t.Fatalf("no answer within %s", within)
		return uploadResult{}
	}
}

// spoolIsEmpty fails when a temporary file is left in dir.
func spoolIsEmpty(t *testing.T, dir string) {
	t.Helper()
	if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
		t.Errorf("spool directory holds %v (%v), want nothing", entries, err)
	}
}

// One namespace uploads at most --max-uploads-per-namespace artifacts at once, whatever
// its attempts: one more is answered 429 TooManyNamespaceUploads with Retry-After, while
// another namespace's uploads go on.
func TestInternalAPIUploadsPerNamespaceAreCapped(t *testing.T) {
	srv, iss, _ := boundedAPI(t, UploadLimits{PerNamespace: 2})
	run := steptoken.Run{Namespace: "greedy", Name: "many", UID: servertest.FreshUID()}
	var results []<-chan uploadResult
	for i := range 3 {
		tr := newTrickle([]byte("x"), []byte("y"), 50*time.Millisecond)
		defer tr.end()
		results = append(results, startUpload(srv.URL, newAttempt(t, iss, run, fmt.Sprintf("s%d", i), 1), "out", tr.pr))
	}
	refused := false
	for deadline := time.Now().Add(5 * time.Second); !refused && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		for i, res := range results {
			select {
			case r := <-res:
				if r.code != http.StatusTooManyRequests || r.body["reason"] != "TooManyNamespaceUploads" || r.retryAfter == "" {
					t.Fatalf("upload %d: %d %v (Retry-After %q, %v), want 429 TooManyNamespaceUploads", i, r.code, r.body, r.retryAfter, r.err)
				}
				refused = true
			default:
			}
		}
	}
	if !refused {
		t.Fatal("3 uploads of a namespace capped at 2 all go on")
	}
	other := newAttempt(t, iss, steptoken.Run{Namespace: "modest", Name: "one", UID: servertest.FreshUID()}, "build", 1)
	if code, body := other.call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+"out", "text/plain", "fine"); code != http.StatusCreated {
		t.Errorf("another namespace's upload meanwhile: %d %v", code, body)
	}
}

// The spool's disk budget is shared by all uploads: an upload announcing more than is
// left is answered 503 SpoolFull with Retry-After before it is read, and goes through once
// the budget is free again. No temporary file outlives its upload.
func TestInternalAPISpoolFullAnswers503(t *testing.T) {
	srv, iss, dir := boundedAPI(t, UploadLimits{SpoolBytes: 3 << 20})
	run := steptoken.Run{Namespace: "acme", Name: "spool", UID: servertest.FreshUID()}
	big := bytes.Repeat([]byte("B"), 2<<20)
	first := newAttempt(t, iss, run, "first", 1)
	pr, pw := io.Pipe()
	defer pw.Close()
	req := first.request(http.MethodPut, srv.URL, stepjob.PathArtifacts+"big", "application/octet-stream", pr)
	req.ContentLength = int64(len(big))
	firstDone := make(chan uploadResult, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			firstDone <- uploadResult{err: err}
			return
		}
		firstDone <- uploadResult{code: resp.StatusCode, body: decodeBody(resp)}
	}()
	// Past the memory one upload is given, so that it spools to a file: once the file is
	// there, its handler holds its 2 MiB of the budget (the written bytes alone do not
	// say so: loopback socket buffers take a MiB before the handler reads a byte).
	held := 1<<20 + 4096
	_, _ = pw.Write(big[:held])
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if files, _ := os.ReadDir(dir); len(files) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first upload never spooled to a file")
		}
	}

	second := newAttempt(t, iss, run, "second", 1)
	var code int
	var body map[string]any
	var retryAfter string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		// It announces its size and sends nothing: refused, it is refused before a byte
		// of it is read.
		// Until the first upload holds its share (its request may not have reached the
		// handler yet), the server accepts this one and waits for its body: the probe
		// gives up after a second and tries again, instead of waiting forever.
		pr2, pw2 := io.Pipe()
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req := second.request(http.MethodPut, srv.URL, stepjob.PathArtifacts+"big", "application/octet-stream", pr2).WithContext(ctx)
		req.ContentLength = int64(len(big))
		resp, err := http.DefaultClient.Do(req)
		_ = pw2.Close()
		cancel()
		if err != nil {
			continue
		}
		code, body, retryAfter = resp.StatusCode, decodeBody(resp), resp.Header.Get("Retry-After")
		if code == http.StatusServiceUnavailable {
			break
		}
	}
	if code != http.StatusServiceUnavailable || body["reason"] != "SpoolFull" || retryAfter == "" {
		t.Fatalf("an upload past the spool's budget: %d %v (Retry-After %q), want 503 SpoolFull", code, body, retryAfter)
	}
	_, _ = pw.Write(big[held:])
	_ = pw.Close()
	if r := awaitResult(t, firstDone, 10*time.Second); r.code != http.StatusCreated || r.body["size"] != float64(len(big)) {
		t.Fatalf("the first upload: %d %v %v", r.code, r.body, r.err)
	}
	if code, body := second.call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+"big", "application/octet-stream", string(big)); code != http.StatusCreated {
		t.Errorf("the second upload once the budget is free: %d %v", code, body)
	}
	spoolIsEmpty(t, dir)
}

// An upload must end within --upload-timeout, however steadily it trickles: past it the
// uploader is answered 408 UploadTimeout, nothing is stored and its spool file is gone.
func TestInternalAPIUploadTimeout(t *testing.T) {
	srv, iss, dir := boundedAPI(t, UploadLimits{Timeout: 500 * time.Millisecond})
	run := steptoken.Run{Namespace: "acme", Name: "timeout", UID: servertest.FreshUID()}
	at := newAttempt(t, iss, run, "build", 1)
	// Past the memory a single upload is given, so that it is spooled to a file.
	tr := newTrickle(bytes.Repeat([]byte("x"), 1<<20+1), []byte("y"), 20*time.Millisecond)
	defer tr.end()
	began := time.Now()
	r := awaitResult(t, startUpload(srv.URL, at, "slow", tr.pr), 10*time.Second)
	if r.code != http.StatusRequestTimeout || r.body["reason"] != "UploadTimeout" {
		t.Fatalf("an upload trickling past its deadline: %d %v %v after %s, want 408 UploadTimeout", r.code, r.body, r.err, time.Since(began))
	}
	if arts, err := testStore.ListArtifacts(t.Context(), run.UID); err != nil || len(arts) > 0 {
		t.Errorf("stored %+v (%v), want nothing", arts, err)
	}
	spoolIsEmpty(t, dir)
}
