package userapi

import (
	"net/url"
	"strings"
)

// The user API's routes, once: the user listener (webhookserver/console) registers the
// patterns on its ServeMux and the client (internal/apiclient, the CLI's) builds request
// paths with the functions below, which fill the same patterns. The wildcards are the
// names the server reads with r.PathValue.
const (
	prefix       = "/api/v1"
	namespaced   = prefix + "/namespaces/{ns}"
	runsPath     = namespaced + "/runs"
	runPath      = runsPath + "/{run}"
	artifactPath = runPath + "/artifacts/{step}/{name}"
	endpointPath = namespaced + "/webhookendpoints/{ep}"

	PatternWhoAmI          = "GET " + prefix + "/whoami"
	PatternNamespaces      = "GET " + prefix + "/namespaces"
	PatternRuns            = "GET " + runsPath
	PatternRun             = "GET " + runPath
	PatternSteps           = "GET " + runPath + "/steps"
	PatternLogs            = "GET " + runPath + "/logs"
	PatternArtifacts       = "GET " + runPath + "/artifacts"
	PatternArtifact        = "GET " + artifactPath
	PatternArtifactPreview = "GET " + artifactPath + "/preview"
	PatternReplay          = "POST " + runPath + "/replay"
	PatternResume          = "POST " + runPath + "/resume"
	PatternCancel          = "POST " + runPath + "/cancel"
	PatternApprove         = "POST " + runPath + "/steps/{step}/approve"
	PatternReject          = "POST " + runPath + "/steps/{step}/reject"
	PatternWorkflows       = "GET " + namespaced + "/workflows"
	PatternStartRun        = "POST " + namespaced + "/workflows/{wf}/runs"
	PatternEndpoints       = "GET " + namespaced + "/webhookendpoints"
	PatternDeliveries      = "GET " + endpointPath + "/deliveries"
	PatternRedeliver       = "POST " + endpointPath + "/deliveries/{id}/redeliver"
	PatternUsage           = "GET " + namespaced + "/usage"

	// PatternAPI is everything under /api/ that no route above matches (404 NotFound).
	PatternAPI = "/api/"
)

// Patterns lists the routes above, PatternAPI last: a ServeMux holding them all is the
// user API's routing (tests use it to check that each path reaches its route).
func Patterns() []string {
	return []string{PatternWhoAmI, PatternNamespaces, PatternRuns, PatternRun, PatternSteps, PatternLogs,
		PatternArtifacts, PatternArtifact, PatternArtifactPreview, PatternReplay, PatternResume, PatternCancel, PatternApprove, PatternReject, PatternWorkflows,
		PatternStartRun, PatternEndpoints, PatternDeliveries, PatternRedeliver, PatternUsage, PatternAPI}
}

// The request paths of the routes, each name escaped as one path segment so that no
// name can change the route.

func WhoAmIPath() string                  { return fill(PatternWhoAmI) }
func NamespacesPath() string              { return fill(PatternNamespaces) }
func RunsPath(ns string) string           { return fill(PatternRuns, ns) }
func RunPath(ns, run string) string       { return fill(PatternRun, ns, run) }
func StepsPath(ns, run string) string     { return fill(PatternSteps, ns, run) }
func LogsPath(ns, run string) string      { return fill(PatternLogs, ns, run) }
func ArtifactsPath(ns, run string) string { return fill(PatternArtifacts, ns, run) }
func ArtifactPath(ns, run, step, name string) string {
	return fill(PatternArtifact, ns, run, step, name)
}
func ArtifactPreviewPath(ns, run, step, name string) string {
	return fill(PatternArtifactPreview, ns, run, step, name)
}
func ReplayPath(ns, run string) string             { return fill(PatternReplay, ns, run) }
func ResumePath(ns, run string) string             { return fill(PatternResume, ns, run) }
func CancelPath(ns, run string) string             { return fill(PatternCancel, ns, run) }
func ApprovePath(ns, run, step string) string      { return fill(PatternApprove, ns, run, step) }
func RejectPath(ns, run, step string) string       { return fill(PatternReject, ns, run, step) }
func WorkflowsPath(ns string) string               { return fill(PatternWorkflows, ns) }
func StartRunPath(ns, workflow string) string      { return fill(PatternStartRun, ns, workflow) }
func EndpointsPath(ns string) string               { return fill(PatternEndpoints, ns) }
func DeliveriesPath(ns, endpoint string) string    { return fill(PatternDeliveries, ns, endpoint) }
func RedeliverPath(ns, endpoint, id string) string { return fill(PatternRedeliver, ns, endpoint, id) }
func UsagePath(ns string) string                   { return fill(PatternUsage, ns) }

// fill is pattern's path with its wildcards replaced, in order, by values (escaped).
// The functions above pass exactly one value per wildcard; the routes test checks them.
func fill(pattern string, values ...string) string {
	_, path, _ := strings.Cut(pattern, " ")
	var b strings.Builder
	for {
		open := strings.IndexByte(path, '{')
		if open < 0 {
			b.WriteString(path)
			return b.String()
		}
		end := strings.IndexByte(path[open:], '}') + open
		b.WriteString(path[:open])
		if len(values) > 0 {
			b.WriteString(url.PathEscape(values[0]))
			values = values[1:]
		}
		path = path[end+1:]
	}
}
