package userapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// Each path function builds a path that the server's ServeMux routes to that function's
// pattern, and the wildcards read back the names, however odd, that went in.
func TestPathsMatchTheirPatterns(t *testing.T) {
	const ns, run, step, name, wf, ep, id = "acme", "r 1", "parse", "result.json", "wf%x", "gh", "d/1?x#y"
	for _, tc := range []struct {
		pattern string
		path    string
		values  map[string]string
	}{
		{PatternWhoAmI, WhoAmIPath(), nil},
		{PatternNamespaces, NamespacesPath(), nil},
		{PatternRuns, RunsPath(ns), map[string]string{"ns": ns}},
		{PatternRun, RunPath(ns, run), map[string]string{"ns": ns, "run": run}},
		{PatternSteps, StepsPath(ns, run), map[string]string{"ns": ns, "run": run}},
		{PatternLogs, LogsPath(ns, run), map[string]string{"ns": ns, "run": run}},
		{PatternArtifacts, ArtifactsPath(ns, run), map[string]string{"ns": ns, "run": run}},
		{PatternArtifact, ArtifactPath(ns, run, step, name), map[string]string{"ns": ns, "run": run, "step": step, "name": name}},
		{PatternArtifactPreview, ArtifactPreviewPath(ns, run, step, name), map[string]string{"ns": ns, "run": run, "step": step, "name": name}},
		// A forEach item's attempts go by `<step>.<index>`: the dot stays in the segment.
		{PatternArtifact, ArtifactPath(ns, run, "square.3", "result"), map[string]string{"ns": ns, "run": run, "step": "square.3", "name": "result"}},
		{PatternArtifactPreview, ArtifactPreviewPath(ns, run, "square.3", "result"), map[string]string{"ns": ns, "run": run, "step": "square.3", "name": "result"}},
		{PatternReplay, ReplayPath(ns, run), map[string]string{"ns": ns, "run": run}},
		{PatternResume, ResumePath(ns, run), map[string]string{"ns": ns, "run": run}},
		{PatternCancel, CancelPath(ns, run), map[string]string{"ns": ns, "run": run}},
		{PatternApprove, ApprovePath(ns, run, step), map[string]string{"ns": ns, "run": run, "step": step}},
		{PatternReject, RejectPath(ns, run, "a/b?c"), map[string]string{"ns": ns, "run": run, "step": "a/b?c"}},
		{PatternWorkflows, WorkflowsPath(ns), map[string]string{"ns": ns}},
		{PatternStartRun, StartRunPath(ns, wf), map[string]string{"ns": ns, "wf": wf}},
		{PatternEndpoints, EndpointsPath(ns), map[string]string{"ns": ns}},
		{PatternDeliveries, DeliveriesPath(ns, ep), map[string]string{"ns": ns, "ep": ep}},
		{PatternRedeliver, RedeliverPath(ns, ep, id), map[string]string{"ns": ns, "ep": ep, "id": id}},
		{PatternUsage, UsagePath(ns), map[string]string{"ns": ns}},
	} {
		method, _, _ := strings.Cut(tc.pattern, " ")
		var got map[string]string
		mux := serverMux(func(r *http.Request) {
			if r.Pattern != tc.pattern {
				return
			}
			got = map[string]string{}
			for k := range tc.values {
				got[k] = r.PathValue(k)
			}
		})
		req := httptest.NewRequest(method, "http://aias"+tc.path, nil)
		if _, matched := mux.Handler(req); matched != tc.pattern {
			t.Errorf("%s %s is routed to %q, want %q", method, tc.path, matched, tc.pattern)
			continue
		}
		mux.ServeHTTP(httptest.NewRecorder(), req)
		for k, want := range tc.values {
			if got[k] != want {
				t.Errorf("%s: {%s} = %q, want %q (path %s)", tc.pattern, k, got[k], want, tc.path)
			}
		}
	}
}

// The patterns are the user API's published URLs (types.go documents them): they must
// not move.
func TestPatternsAreTheDocumentedURLs(t *testing.T) {
	for got, want := range map[string]string{
		PatternWhoAmI:          "GET /api/v1/whoami",
		PatternNamespaces:      "GET /api/v1/namespaces",
		PatternRuns:            "GET /api/v1/namespaces/{ns}/runs",
		PatternRun:             "GET /api/v1/namespaces/{ns}/runs/{run}",
		PatternSteps:           "GET /api/v1/namespaces/{ns}/runs/{run}/steps",
		PatternLogs:            "GET /api/v1/namespaces/{ns}/runs/{run}/logs",
		PatternArtifacts:       "GET /api/v1/namespaces/{ns}/runs/{run}/artifacts",
		PatternArtifact:        "GET /api/v1/namespaces/{ns}/runs/{run}/artifacts/{step}/{name}",
		PatternArtifactPreview: "GET /api/v1/namespaces/{ns}/runs/{run}/artifacts/{step}/{name}/preview",
		PatternReplay:          "POST /api/v1/namespaces/{ns}/runs/{run}/replay",
		PatternResume:          "POST /api/v1/namespaces/{ns}/runs/{run}/resume",
		PatternCancel:          "POST /api/v1/namespaces/{ns}/runs/{run}/cancel",
		PatternApprove:         "POST /api/v1/namespaces/{ns}/runs/{run}/steps/{step}/approve",
		PatternReject:          "POST /api/v1/namespaces/{ns}/runs/{run}/steps/{step}/reject",
		PatternWorkflows:       "GET /api/v1/namespaces/{ns}/workflows",
		PatternStartRun:        "POST /api/v1/namespaces/{ns}/workflows/{wf}/runs",
		PatternEndpoints:       "GET /api/v1/namespaces/{ns}/webhookendpoints",
		PatternDeliveries:      "GET /api/v1/namespaces/{ns}/webhookendpoints/{ep}/deliveries",
		PatternRedeliver:       "POST /api/v1/namespaces/{ns}/webhookendpoints/{ep}/deliveries/{id}/redeliver",
		PatternUsage:           "GET /api/v1/namespaces/{ns}/usage",
	} {
		if got != want {
			t.Errorf("pattern %q, want %q", got, want)
		}
	}
	if got := RunPath("acme", "a/b"); got != "/api/v1/namespaces/acme/runs/a%2Fb" {
		t.Errorf("RunPath escapes to %q", got)
	}
}

// serverMux registers every pattern as the user listener does, its /api/ catch-all
// included, so that a path can only match the route it was built for.
func serverMux(seen func(*http.Request)) *http.ServeMux {
	mux := http.NewServeMux()
	for _, p := range Patterns() {
		mux.HandleFunc(p, func(_ http.ResponseWriter, r *http.Request) { seen(r) })
	}
	return mux
}
