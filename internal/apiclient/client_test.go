package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/userapi"
)

func newTestClient(t *testing.T, h http.HandlerFunc) *Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL+"/prefix/", "tok", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestListRunsSendsFiltersAndToken(t *testing.T) {
	since := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Get("Authorization"); got != "Bearer tok" {
			t.Errorf("Authorization = %q", got)
		}
		if r.URL.EscapedPath() != "/prefix/api/v1/namespaces/acme/runs" {
			t.Errorf("path = %q", r.URL.EscapedPath())
		}
		want := "continue=abc&endpoint=gh&limit=10&phase=Running&since=2026-01-02T03%3A04%3A05Z&workflow=wf"
		if r.URL.RawQuery != want {
			t.Errorf("query = %q, want %q", r.URL.RawQuery, want)
		}
		_ = json.NewEncoder(w).Encode(userapi.RunList{Items: []userapi.RunSummary{{Name: "r1"}}, Continue: "next"})
	})
	list, err := c.ListRuns(context.Background(), "acme", RunFilters{Workflow: "wf", Phase: "Running", Endpoint: "gh", Since: since}, 10, "abc")
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "r1" || list.Continue != "next" {
		t.Fatalf("list = %+v", list)
	}
}

func TestPathSegmentsAreEscaped(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.EscapedPath() != "/prefix/api/v1/namespaces/acme/runs/a%2Fb/artifacts/s/res%20ult" {
			t.Errorf("path = %q", r.URL.EscapedPath())
		}
		w.Header().Set("ETag", `"sha256:00"`)
		_, _ = io.WriteString(w, "x")
	})
	dl, err := c.DownloadArtifact(context.Background(), "acme", "a/b", "s", "res ult", DownloadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	dl.Body.Close()
	if dl.Digest != "sha256:00" {
		t.Errorf("digest = %q", dl.Digest)
	}
}

func TestAPIErrors(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body, want string
	}{
		{403, `{"error":"user \"x\" cannot get runs in namespace \"acme\"","reason":"Forbidden"}`, `Error from server (Forbidden): user "x" cannot get runs in namespace "acme"`},
		{401, `{"error":"invalid bearer token"}`, `Error from server (Unauthorized): invalid bearer token`},
		{404, "page not found\n", `Error from server (NotFound): page not found`},
		{502, "<html>bad gateway</html>", `Error from server (BadGateway): 502 Bad Gateway`},
	} {
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(tc.status)
			_, _ = io.WriteString(w, tc.body)
		})
		_, err := c.GetRun(context.Background(), "acme", "r")
		var ae *APIError
		if !errors.As(err, &ae) || ae.StatusCode != tc.status {
			t.Fatalf("%d: err = %v", tc.status, err)
		}
		if err.Error() != tc.want {
			t.Errorf("%d: %q, want %q", tc.status, err.Error(), tc.want)
		}
	}
}

func TestDownloadRangeAndAttempt(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Range") != "bytes=2-" || r.URL.Query().Get("attempt") != "2" {
			t.Errorf("Range %q attempt %q", r.Header.Get("Range"), r.URL.Query().Get("attempt"))
		}
		w.Header().Set("ETag", `W/"sha256:ab"`)
		w.Header().Set("Content-Range", "bytes 2-4/5")
		w.WriteHeader(http.StatusPartialContent)
		_, _ = io.WriteString(w, "llo")
	})
	dl, err := c.DownloadArtifact(context.Background(), "acme", "r", "s", "result", DownloadOptions{Attempt: 2, Range: "bytes=2-"})
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Body.Close()
	b, _ := io.ReadAll(dl.Body)
	if string(b) != "llo" || dl.StatusCode != 206 || dl.Digest != "sha256:ab" || dl.ContentRange != "bytes 2-4/5" {
		t.Fatalf("%q %+v", b, dl)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8081", "ftp://x"} {
		if _, err := New(u, "", nil); err == nil || !strings.Contains(err.Error(), "user API URL") {
			t.Errorf("New(%q) = %v", u, err)
		}
	}
}

// A 429 with Retry-After (the user API's per-user budget) is waited out and tried again;
// one with a Retry-After too long to wait for reaches the caller.
func TestRateLimitedRequestsAreRetried(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := calls.Add(1)
		switch {
		case r.URL.Query().Get("long") != "":
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusTooManyRequests)
		case n < 3:
			w.Header().Set("Retry-After", "0")
			w.WriteHeader(http.StatusTooManyRequests)
		default:
			_, _ = w.Write([]byte(`{"user":"alice"}`))
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL, "t", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.WhoAmI(context.Background()); err != nil || calls.Load() != 3 {
		t.Fatalf("WhoAmI after two 429s: %v after %d calls, want success on the third", err, calls.Load())
	}
	calls.Store(10)
	if err := c.do(context.Background(), http.MethodGet, "/api/v1/whoami", url.Values{"long": {"1"}}, nil); !IsStatus(err, http.StatusTooManyRequests) {
		t.Fatalf("a 429 with an hour's Retry-After: %v, want the 429", err)
	}
}
