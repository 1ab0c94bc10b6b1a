package stepapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// The package's tests share one database.
var testStore *store.Store

func TestMain(m *testing.M) { fixtures.Main(m, "aias_stepapi_test", nil, &testStore) }

func newInternalAPI(t *testing.T) (*httptest.Server, *steptoken.Issuer) {
	t.Helper()
	iss, err := steptoken.NewIssuer(bytes.Repeat([]byte("k"), 32))
	if err != nil {
		t.Fatal(err)
	}
	api := &Server{Store: testStore, Tokens: iss, MaxArtifactBytes: 1 << 20, MaxLogBatch: 1000}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(srv.Close)
	return srv, iss
}

func do(t *testing.T, method, url, token string, body io.Reader) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
		if ticket := ticketFor(url, token); ticket != "" {
			req.Header.Set(stepjob.TicketHeader, ticket)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

var attemptPath = regexp.MustCompile(`/internal/v1/namespaces/[^/]+/runs/[^/]+/steps/([^/]+)/attempts/([0-9]+)`)

// ticketFor is the attempt ticket that goes with a genuine token (newInternalAPI's key)
// for the attempt url addresses, as the attempt's Pod has it; "" for a forged token.
func ticketFor(url, token string) string {
	iss, _ := steptoken.NewIssuer(bytes.Repeat([]byte("k"), 32))
	run, err := iss.Verify(token)
	m := attemptPath.FindStringSubmatch(url)
	if err != nil || m == nil {
		return ""
	}
	n, _ := strconv.Atoi(m[2])
	return iss.IssueAttempt(steptoken.Attempt{Run: run, Step: m[1], Attempt: n, Expires: time.Now().Add(time.Hour)})
}

func TestInternalAPIAuthorization(t *testing.T) {
	srv, iss := newInternalAPI(t)
	runA := steptoken.Run{Namespace: "acme", Name: "run-a", UID: "6f1d3c2a-0000-4000-8000-00000000000a"}
	runB := steptoken.Run{Namespace: "acme", Name: "run-b", UID: "6f1d3c2a-0000-4000-8000-00000000000b"}
	newAttempt(t, iss, runA, "build", 1) // indexed, as the Run controller does before a step starts
	forged, _ := steptoken.NewIssuer(bytes.Repeat([]byte("x"), 32))
	urlA := srv.URL + stepjob.AttemptPath("acme", "run-a", "build", 1) + stepjob.PathArtifacts + stepjob.ResultArtifact

	for _, tc := range []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"forged token", forged.Issue(runA), http.StatusUnauthorized},
		{"token of run B", iss.Issue(runB), http.StatusForbidden},
		{"token of run A", iss.Issue(runA), http.StatusCreated},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := do(t, http.MethodPut, urlA, tc.token, strings.NewReader(`{"ok":1}`))
			if status != tc.want {
				t.Fatalf("status %d (%v), want %d", status, body, tc.want)
			}
			if tc.want >= 400 && (body["error"] == nil || body["reason"] == nil) {
				t.Errorf("error body %v lacks error/reason", body)
			}
		})
	}
}

func TestInternalAPIArtifactsAndLogs(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "run-c", UID: servertest.FreshUID()}
	newAttempt(t, iss, run, "build", 1)
	tok := iss.Issue(run)
	base := srv.URL + stepjob.AttemptPath("acme", "run-c", "build", 1)

	status, body := do(t, http.MethodPut, base+"/artifacts/big.bin", tok, bytes.NewReader(make([]byte, 1<<20+1)))
	if status != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized upload: %d %v, want 413", status, body)
	}
	arts, err := testStore.ListArtifacts(context.Background(), run.UID)
	if err != nil || len(arts) != 0 {
		t.Fatalf("after a refused upload: %v, %v; want nothing stored", arts, err)
	}
	status, body = do(t, http.MethodPut, base+"/artifacts/..%2Fescape", tok, strings.NewReader("x"))
	if status != http.StatusBadRequest {
		t.Errorf("path-escaping name: %d %v, want 400", status, body)
	}

	batch := `{"lines":[{"stream":"stdout","seq":1,"time":"2026-11-25T10:00:00Z","line":"hello"},{"stream":"stderr","seq":1,"time":"2026-11-25T10:00:00Z","line":"warn"}]}`
	for i, want := range []float64{2, 0} { // the second post is a retry: nothing new
		status, body = do(t, http.MethodPost, base+stepjob.PathLogs, tok, strings.NewReader(batch))
		if status != http.StatusOK || body["inserted"] != want {
			t.Fatalf("log post %d: %d %v, want 200 inserted=%v", i, status, body, want)
		}
	}
	status, body = do(t, http.MethodPost, base+stepjob.PathLogs, tok, strings.NewReader(`{"lines":[{"stream":"stdin","seq":1,"line":"x"}]}`))
	if status != http.StatusBadRequest {
		t.Errorf("bad stream: %d %v, want 400", status, body)
	}
	status, _ = do(t, http.MethodPost, srv.URL+stepjob.AttemptPath("acme", "run-c", "Bad_Step", 1)+stepjob.PathLogs, tok, strings.NewReader(batch))
	if status != http.StatusBadRequest {
		t.Errorf("bad step name: %d, want 400", status)
	}
}

// A Run's plan caps its artifacts and logs: an upload or a batch that would go over is
// refused with 413 and a reason naming the limit, and nothing of it is stored.
func TestInternalAPIRunByteCaps(t *testing.T) {
	srv, tokens := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "capped", UID: servertest.FreshUID()}
	newAttempt(t, tokens, run, "s", 1)
	tok := tokens.Issue(run)
	artifactCap, logCap := int64(10), int64(12)
	if err := testStore.SetRunLimits(context.Background(), run.UID, store.RunLimits{ArtifactBytes: &artifactCap, LogBytes: &logCap}); err != nil {
		t.Fatal(err)
	}
	base := srv.URL + stepjob.AttemptPath("acme", "capped", "s", 1)
	if code, body := do(t, "PUT", base+"/artifacts/a", tok, strings.NewReader("123456")); code != http.StatusCreated {
		t.Fatalf("within the cap: %d %v", code, body)
	}
	if code, body := do(t, "PUT", base+"/artifacts/b", tok, strings.NewReader("12345")); code != http.StatusRequestEntityTooLarge || body["reason"] != "RunArtifactQuota" {
		t.Errorf("over the cap: %d %v", code, body)
	}
	if code, _ := do(t, "PUT", base+"/artifacts/a", tok, strings.NewReader("1234567890")); code != http.StatusCreated {
		t.Errorf("replacing an artifact counts only the new size: %d", code)
	}
	line := func(seq int, text string) string {
		return fmt.Sprintf(`{"lines":[{"stream":"stdout","seq":%d,"time":"2026-11-26T00:00:00Z","line":%q}]}`, seq, text)
	}
	if code, body := do(t, "POST", base+stepjob.PathLogs, tok, strings.NewReader(line(1, "12345678"))); code != http.StatusOK {
		t.Fatalf("log within the cap: %d %v", code, body)
	}
	if code, body := do(t, "POST", base+stepjob.PathLogs, tok, strings.NewReader(line(2, "12345"))); code != http.StatusRequestEntityTooLarge || body["reason"] != "RunLogQuota" {
		t.Errorf("log over the cap: %d %v", code, body)
	}
	arts, _ := testStore.ListArtifacts(context.Background(), run.UID)
	if len(arts) != 1 {
		t.Errorf("artifacts stored: %+v", arts)
	}
	if n, _ := testStore.LogBytes(context.Background(), run.UID); n != 8 {
		t.Errorf("log bytes stored %d, want 8", n)
	}
}
