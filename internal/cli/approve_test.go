package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aias-dev/aias/internal/apiclient"
)

// `aias approve|reject <run> <step> [-m comment]` post the decision to the gate's route
// with the comment as the body, and say what was decided; the server's refusals come
// back as its errors, and mistakes on the command line never reach it.
func TestApproveAndReject(t *testing.T) {
	var requests []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		requests = append(requests, r.Method+" "+r.URL.EscapedPath()+" "+string(body))
		verb := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
		var req struct{ Comment string }
		_ = json.Unmarshal(body, &req)
		w.Header().Set("Content-Type", "application/json")
		if req.Comment == "late" {
			w.WriteHeader(http.StatusConflict)
			fmt.Fprint(w, `{"error":"step prod of run release-7 was approved by alice at 2026-12-06T21:00:00Z","reason":"AlreadyDecided","decision":{"decision":"Approved","by":"alice"}}`)
			return
		}
		decision := map[string]string{"approve": "Approved", "reject": "Rejected"}[verb]
		fmt.Fprintf(w, `{"namespace":"acme","run":"release-7","step":"prod","decision":%q,"by":"me","comment":%q,"time":"2026-12-06T21:00:00Z"}`, decision, req.Comment)
	}))
	defer srv.Close()
	t.Setenv("AIAS_SERVER", srv.URL)
	t.Setenv("AIAS_USER_TOKEN", "t")

	decide := func(verb string, args ...string) (string, error) {
		var out strings.Builder
		err := decideGate(context.Background(), verb, args, &out)
		return out.String(), err
	}
	if out, err := decide("approve", "release-7", "prod", "-m", "LGTM", "-n", "acme"); err != nil || out != "approved step prod of run release-7\n" {
		t.Errorf("approve: %q, %v", out, err)
	}
	if out, err := decide("reject", "run/release-7", "prod", "-n", "acme"); err != nil || out != "rejected step prod of run release-7\n" {
		t.Errorf("reject: %q, %v", out, err)
	}
	want := []string{
		`POST /api/v1/namespaces/acme/runs/release-7/steps/prod/approve {"comment":"LGTM"}`,
		`POST /api/v1/namespaces/acme/runs/release-7/steps/prod/reject {}`,
	}
	if strings.Join(requests, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests:\n%s\nwant:\n%s", strings.Join(requests, "\n"), strings.Join(want, "\n"))
	}

	_, err := decide("reject", "release-7", "prod", "--message", "late", "-n", "acme")
	var ae *apiclient.APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusConflict || ae.Reason != "AlreadyDecided" || !strings.Contains(ae.Error(), "approved by alice") {
		t.Errorf("a decided gate: %v", err)
	}

	requests = nil
	for _, args := range [][]string{{"release-7"}, {"release-7", "prod", "extra"}, {"release-7", "prod", "-m", strings.Repeat("x", 1025)}} {
		if _, err := decide("approve", args...); !errors.As(err, new(usageError)) {
			t.Errorf("approve %.40q: %v, want a usage error", args, err)
		}
	}
	if len(requests) != 0 {
		t.Errorf("mistakes reached the server: %q", requests)
	}
}
