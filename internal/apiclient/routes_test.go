package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aias-dev/aias/internal/userapi"
)

// Every client call reaches the route the user listener registers for it: the server
// here routes with the same patterns (userapi.Patterns) and records the one that matched.
func TestClientCallsReachTheirRoutes(t *testing.T) {
	var matched string
	mux := http.NewServeMux()
	for _, p := range userapi.Patterns() {
		mux.HandleFunc(p, func(w http.ResponseWriter, r *http.Request) {
			matched = r.Pattern
			if r.Header.Get("Accept") == "text/event-stream" {
				w.Header().Set("Content-Type", "text/event-stream")
				_, _ = io.WriteString(w, "event: end\ndata: {}\n\n")
				return
			}
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, "{}")
		})
	}
	srv := httptest.NewServer(mux)
	defer srv.Close()
	c, err := New(srv.URL, "t", srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// Names with characters a path would otherwise split or end at.
	const ns, run, step, name, ep, id = "acme", "r/1", "s?", "n#1", "e p", "d%1"
	for _, tc := range []struct {
		pattern string
		call    func() error
	}{
		{userapi.PatternWhoAmI, func() error { _, err := c.WhoAmI(ctx); return err }},
		{userapi.PatternRuns, func() error { _, err := c.ListRuns(ctx, ns, RunFilters{Workflow: "w"}, 10, "c"); return err }},
		{userapi.PatternRun, func() error { _, err := c.GetRun(ctx, ns, run); return err }},
		{userapi.PatternSteps, func() error { _, err := c.Steps(ctx, ns, run); return err }},
		{userapi.PatternLogs, func() error { _, err := c.Logs(ctx, ns, run, LogQuery{}); return err }},
		{userapi.PatternLogs, func() error {
			return c.FollowLogs(ctx, ns, run, LogQuery{}, func(userapi.LogEntry) error { return nil })
		}},
		{userapi.PatternArtifacts, func() error { _, err := c.Artifacts(ctx, ns, run); return err }},
		{userapi.PatternArtifact, func() error {
			d, err := c.DownloadArtifact(ctx, ns, run, step, name, DownloadOptions{Attempt: 2})
			if err == nil {
				_ = d.Body.Close()
			}
			return err
		}},
		{userapi.PatternReplay, func() error { _, err := c.Replay(ctx, ns, run); return err }},
		{userapi.PatternResume, func() error { _, err := c.Resume(ctx, ns, run, "k"); return err }},
		{userapi.PatternCancel, func() error { _, err := c.Cancel(ctx, ns, run); return err }},
		{userapi.PatternApprove, func() error { _, err := c.Approve(ctx, ns, run, step, "ok"); return err }},
		{userapi.PatternReject, func() error { _, err := c.Reject(ctx, ns, run, step, ""); return err }},
		{userapi.PatternStartRun, func() error { _, err := c.StartRun(ctx, ns, "wf", userapi.StartRun{}, "k"); return err }},
		{userapi.PatternDeliveries, func() error { _, err := c.ListDeliveries(ctx, ns, ep, 5, ""); return err }},
		{userapi.PatternRedeliver, func() error { _, err := c.Redeliver(ctx, ns, ep, id); return err }},
	} {
		matched = ""
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.pattern, err)
		}
		if matched != tc.pattern {
			t.Errorf("the call for %q reached %q", tc.pattern, matched)
		}
	}
}
