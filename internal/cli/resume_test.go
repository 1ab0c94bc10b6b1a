package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aias-dev/aias/internal/apiclient"
)

// `aias resume <run> [--idempotency-key k]` posts to the run's resume route with the key
// and prints only the new Run's name; the server's refusals come back as its errors, and
// mistakes on the command line never reach it.
func TestResume(t *testing.T) {
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests = append(requests, r.Method+" "+r.URL.EscapedPath()+" key="+r.Header.Get("Idempotency-Key"))
		w.Header().Set("Content-Type", "application/json")
		if strings.Contains(r.URL.Path, "/runs/live/") {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error":"run live is Running: only a Failed or Canceled Run can be resumed","reason":"NotFinished"}`)
			return
		}
		w.WriteHeader(http.StatusCreated)
		fmt.Fprint(w, `{"namespace":"acme","run":"release-7-resume-0123456789abcdef","status":"created"}`)
	}))
	defer srv.Close()
	t.Setenv("AIAS_SERVER", srv.URL)
	t.Setenv("AIAS_USER_TOKEN", "t")

	resume := func(args ...string) (string, error) {
		var out strings.Builder
		err := resumeRun(context.Background(), args, &out)
		return out.String(), err
	}
	if out, err := resume("release-7", "-n", "acme", "--idempotency-key", "k1"); err != nil || out != "release-7-resume-0123456789abcdef\n" {
		t.Errorf("resume: %q, %v", out, err)
	}
	if out, err := resume("run/release-7", "-n", "acme"); err != nil || out != "release-7-resume-0123456789abcdef\n" {
		t.Errorf("resume run/…: %q, %v", out, err)
	}
	want := []string{
		"POST /api/v1/namespaces/acme/runs/release-7/resume key=k1",
		"POST /api/v1/namespaces/acme/runs/release-7/resume key=",
	}
	if strings.Join(requests, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(requests, "\n"), strings.Join(want, "\n"))
	}

	_, err := resume("live", "-n", "acme")
	var ae *apiclient.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || ae.Reason != "NotFinished" {
		t.Errorf("a running Run: %v", err)
	}

	requests = nil
	for _, args := range [][]string{{}, {"a", "b"}, {"a", "--idempotency-key"}} {
		if _, err := resume(args...); !errors.As(err, new(usageError)) {
			t.Errorf("resume %q: %v, want a usage error", args, err)
		}
	}
	if len(requests) != 0 {
		t.Errorf("mistakes reached the server: %q", requests)
	}
}
