// Package userapi is the wire contract of the user API: the JSON documents the user
// listener (webhookserver/console) serves and the web console and the CLI (through
// internal/apiclient) read. Change them together.
package userapi

import "time"

// Routes (user listener, default :8081; every /api route needs a Kubernetes bearer
// token in `Authorization: Bearer …` or the UI's session cookie):
//
//	GET  /api/v1/whoami                                      → WhoAmI
//	GET  /api/v1/namespaces                                  → NamespaceList (tenant namespaces the caller may list runs in)
//	GET  /api/v1/namespaces/{ns}/runs                        → RunList   ?workflow= &phase= &endpoint= &since= &until= (RFC 3339) &limit= (1–500, default 50) &continue=
//	GET  /api/v1/namespaces/{ns}/runs/{run}                  → RunDetail
//	GET  /api/v1/namespaces/{ns}/runs/{run}/steps            → StepList
//	GET  /api/v1/namespaces/{ns}/runs/{run}/logs             → LogPage   ?step= &attempt= &cursor= &limit=
//	     with ?follow=true or Accept: text/event-stream      → SSE: `event: line` data LogEntry (id: cursor), `event: end` data {"phase"} when the Run finished and all lines were sent;
//	     a reconnect with Last-Event-ID resumes after the last line received
//	GET  /api/v1/namespaces/{ns}/runs/{run}/artifacts        → ArtifactList
//	GET  /api/v1/namespaces/{ns}/runs/{run}/artifacts/{step}/{name}          → the content (Content-Type, Content-Disposition, ETag = digest, Range) ?attempt= (default latest)
//	GET  /api/v1/namespaces/{ns}/runs/{run}/artifacts/{step}/{name}/preview  → Preview ?attempt=
//	POST /api/v1/namespaces/{ns}/runs/{run}/replay           → 201 RunRef (a new Run with the same input, spec.replayOf = run);
//	     with header Idempotency-Key the name derives from it and a repeat answers 200 with the same Run;
//	     409 when admission (a plan limit) refuses the new Run
//	POST /api/v1/namespaces/{ns}/runs/{run}/cancel           → 202 RunRef; 409 when the Run already ended
//	GET  /api/v1/namespaces/{ns}/workflows                   → WorkflowList
//	GET  /api/v1/namespaces/{ns}/webhookendpoints            → EndpointList
//	GET  /api/v1/namespaces/{ns}/usage                       → Usage
//
// UI routes: GET / (the app), GET /ui/* (embedded assets), POST /login (form field
// `token`; sets the HttpOnly SameSite=Strict session cookie `aias_session` and the
// CSRF cookie `aias_csrf`), POST /logout. A POST authenticated by the cookie must
// carry header X-CSRF-Token equal to the `aias_csrf` cookie (403 otherwise).
//
// Errors are {"error": "...", "reason": "..."}: 400 BadRequest, 401 Unauthorized,
// 403 Forbidden, 404 NotFound, 409 Conflict, 503 Unavailable.

// WhoAmI is the authenticated caller.
type WhoAmI struct {
	User   string   `json:"user"`
	Groups []string `json:"groups,omitempty"`
}

// NamespaceList lists the tenant namespaces the caller may list runs in.
type NamespaceList struct {
	Items []Namespace `json:"items"`
}

// Namespace is one tenant namespace.
type Namespace struct {
	Name string `json:"name"`
	Plan string `json:"plan,omitempty"`
}

// RunSummary is one row of the runs list, read from the store's run index.
type RunSummary struct {
	Namespace  string     `json:"namespace"`
	Name       string     `json:"name"`
	UID        string     `json:"uid"`
	Workflow   string     `json:"workflow"`
	Phase      string     `json:"phase"`
	Trigger    string     `json:"trigger"`
	Endpoint   string     `json:"endpoint,omitempty"`
	CreatedAt  time.Time  `json:"createdAt"`
	StartedAt  *time.Time `json:"startedAt,omitempty"`
	FinishedAt *time.Time `json:"finishedAt,omitempty"`
	// DurationSeconds is finishedAt − startedAt once finished.
	DurationSeconds *float64 `json:"durationSeconds,omitempty"`
}

// RunList is one page of runs, newest first. Continue, when set, fetches the next page.
type RunList struct {
	Items    []RunSummary `json:"items"`
	Continue string       `json:"continue,omitempty"`
}

// RunDetail is one Run: its summary plus what its status tells.
type RunDetail struct {
	RunSummary
	ReplayOf    string         `json:"replayOf,omitempty"`
	Cancel      bool           `json:"cancel,omitempty"`
	DeliveryID  string         `json:"deliveryID,omitempty"`
	Message     string         `json:"message,omitempty"`
	Reason      string         `json:"reason,omitempty"` // the Ready condition's reason
	SpecDigest  string         `json:"specDigest,omitempty"`
	InputDigest string         `json:"inputDigest,omitempty"`
	Steps       []Step         `json:"steps"`
	Artifacts   []ArtifactInfo `json:"artifacts"`
	// Replay compares a replayed Run's step outputs with the original's.
	Replay *ReplayCheck `json:"replay,omitempty"`
}

// Step is one step of a Run: the frozen spec's shape plus the status.
type Step struct {
	Name            string     `json:"name"`
	DependsOn       []string   `json:"dependsOn,omitempty"`
	Phase           string     `json:"phase"`
	Attempts        int32      `json:"attempts"`
	JobName         string     `json:"jobName,omitempty"`
	StartTime       *time.Time `json:"startTime,omitempty"`
	CompletionTime  *time.Time `json:"completionTime,omitempty"`
	DurationSeconds *float64   `json:"durationSeconds,omitempty"`
	// RunSeconds is how long the command of the latest attempt ran, measured by step-run
	// to the millisecond (the Kubernetes times above have whole seconds).
	RunSeconds   *float64 `json:"runSeconds,omitempty"`
	ExitCode     *int32   `json:"exitCode,omitempty"`
	Message      string   `json:"message,omitempty"`
	OutputDigest string   `json:"outputDigest,omitempty"`
}

// StepList is a Run's steps in workflow order.
type StepList struct {
	Items []Step `json:"items"`
}

// ReplayCheck says, step by step, whether a replay produced the original's outputs.
type ReplayCheck struct {
	Of string `json:"of"`
	// SameSpec is false when the Workflow changed between the original and the replay.
	SameSpec bool         `json:"sameSpec"`
	Steps    []ReplayStep `json:"steps"`
	// Verdict: "match" (every step's output digest equal), "differs" (at least one not),
	// "pending" (not every step has finished on both sides yet), or "unavailable" (the
	// original Run is gone; Steps is empty).
	Verdict string `json:"verdict"`
}

// ReplayStep compares one step's `result` digest.
type ReplayStep struct {
	Name     string `json:"name"`
	Original string `json:"original,omitempty"`
	Replay   string `json:"replay,omitempty"`
	// Match is "match", "differs" or "pending".
	Match string `json:"match"`
}

// ArtifactInfo describes one stored output of one step attempt.
type ArtifactInfo struct {
	Step        string    `json:"step"`
	Attempt     int       `json:"attempt"`
	Name        string    `json:"name"`
	Digest      string    `json:"digest"`
	Size        int64     `json:"size"`
	ContentType string    `json:"contentType"`
	CreatedAt   time.Time `json:"createdAt"`
}

// ArtifactList is a Run's artifacts, by step, attempt and name.
type ArtifactList struct {
	Items []ArtifactInfo `json:"items"`
}

// Preview is the head of an artifact fit for display: JSON re-indented, text as is,
// anything else not shown.
type Preview struct {
	Digest      string `json:"digest"`
	ContentType string `json:"contentType"`
	Size        int64  `json:"size"`
	// Kind is "json", "text" or "binary".
	Kind      string `json:"kind"`
	Text      string `json:"text,omitempty"`
	Truncated bool   `json:"truncated"`
}

// LogEntry is one line a step wrote.
type LogEntry struct {
	Step    string    `json:"step"`
	Attempt int       `json:"attempt"`
	Stream  string    `json:"stream"` // stdout, stderr or system
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Line    string    `json:"line"`
}

// LogPage is a batch of lines in time order; pass Cursor back for the lines after them.
type LogPage struct {
	Items  []LogEntry `json:"items"`
	Cursor string     `json:"cursor"`
	// Finished is true when the Run has ended (no more lines will come).
	Finished bool `json:"finished"`
}

// RunRef names a Run the API created or changed.
type RunRef struct {
	Namespace string `json:"namespace"`
	Run       string `json:"run"`
	Status    string `json:"status"` // "created" (a replay or a manual Run) or "canceling"
}

// StartRun is the body of POST /api/v1/namespaces/{ns}/workflows/{wf}/runs: a manual Run
// with parameter values and, optionally, an input (at most MaxStartInput bytes).
type StartRun struct {
	Params map[string]string `json:"params,omitempty"`
	Input  *string           `json:"input,omitempty"`
}

// MaxStartInput bounds a manual Run's inline input (the Run's spec.input cap).
const MaxStartInput = 16384

// WorkflowParam is a declared Workflow parameter, for forms.
type WorkflowParam struct {
	Name        string   `json:"name"`
	Description string   `json:"description,omitempty"`
	Default     *string  `json:"default,omitempty"`
	Enum        []string `json:"enum,omitempty"`
	Required    bool     `json:"required,omitempty"`
}

// WorkflowList lists a namespace's Workflows.
type WorkflowList struct {
	Items []WorkflowInfo `json:"items"`
}

// WorkflowInfo is one Workflow.
type WorkflowInfo struct {
	Name        string          `json:"name"`
	Steps       []WorkflowStep  `json:"steps"`
	Params      []WorkflowParam `json:"params,omitempty"`
	Concurrency string          `json:"concurrency,omitempty"`
	Ready       bool            `json:"ready"`
	Message     string          `json:"message,omitempty"`
	LastRun     string          `json:"lastRun,omitempty"`
	LastPhase   string          `json:"lastPhase,omitempty"`
}

// WorkflowStep is a Workflow step's shape.
type WorkflowStep struct {
	Name      string   `json:"name"`
	Image     string   `json:"image"`
	DependsOn []string `json:"dependsOn,omitempty"`
}

// Delivery is one row of an endpoint's delivery log. A verified delivery is one row; the
// ones that never verified are counted per minute, outcome and status (Count), without a
// delivery id or digest.
type Delivery struct {
	ID         string    `json:"id"`
	ReceivedAt time.Time `json:"receivedAt"`
	Verified   bool      `json:"verified"`
	DeliveryID string    `json:"deliveryID,omitempty"`
	// Outcome: created, duplicate, filtered, unauthorized, malformed, rate_limited,
	// quota_exceeded, too_large, suspended, rejected, expression_failed, unavailable.
	Outcome  string `json:"outcome"`
	Reason   string `json:"reason,omitempty"`
	Status   int    `json:"status"`
	BodySize int64  `json:"bodySize"`
	Digest   string `json:"digest,omitempty"`
	Run      string `json:"run,omitempty"`
	Count    int    `json:"count"`
	// Redeliverable: the body is still kept (the plan's deliveryRetention), so
	// POST …/deliveries/{id}/redeliver can send it through the endpoint again.
	Redeliverable bool `json:"redeliverable,omitempty"`
}

// DeliveryList is a page of an endpoint's delivery log, newest first.
type DeliveryList struct {
	Items    []Delivery `json:"items"`
	Continue string     `json:"continue,omitempty"`
}

// EndpointList lists a namespace's WebhookEndpoints.
type EndpointList struct {
	Items []EndpointInfo `json:"items"`
}

// EndpointInfo is one WebhookEndpoint; URL is absolute when the server knows its public base URL.
type EndpointInfo struct {
	Name      string `json:"name"`
	Workflow  string `json:"workflow"`
	URL       string `json:"url"`
	Scheme    string `json:"scheme"`
	Suspended bool   `json:"suspended"`
	Ready     bool   `json:"ready"`
	Message   string `json:"message,omitempty"`
}

// Usage is a tenant's consumption against its effective plan.
type Usage struct {
	Tenant string       `json:"tenant"`
	Plan   string       `json:"plan"`
	Items  []UsageLimit `json:"items"`
}

// UsageLimit is one limit of the plan; Limit nil means unlimited.
type UsageLimit struct {
	Name  string `json:"name"` // workflows, webhookEndpoints, runsPerMonth, concurrentRuns
	Used  int64  `json:"used"`
	Limit *int64 `json:"limit,omitempty"`
}
