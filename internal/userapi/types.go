// Package userapi is the wire contract of the user API: the JSON documents the user
// listener (webhookserver/console) serves and the web console and the CLI (through
// internal/apiclient) read. Change them together.
package userapi

import "time"

// Routes (user listener, default :8081; every /api route needs a Kubernetes bearer
// token in `Authorization: Bearer …` or the UI's session cookie; routes.go holds the
// patterns the server registers and the paths the client builds):
//
//	GET  /api/v1/whoami                                      → WhoAmI
//	GET  /api/v1/namespaces                                  → NamespaceList (tenant namespaces the caller may list runs in)
//	GET  /api/v1/namespaces/{ns}/runs                        → RunList   ?workflow= &phase= &endpoint= &since= &until= (RFC 3339) &limit= (1–500, default 50) &continue=
//	GET  /api/v1/namespaces/{ns}/runs/{run}                  → RunDetail
//	GET  /api/v1/namespaces/{ns}/runs/{run}/steps            → StepList
//	GET  /api/v1/namespaces/{ns}/runs/{run}/logs             → LogPage   ?step= &attempt= &cursor= &limit= (1–5000, default 1000);
//	     step may name a forEach item (`<step>.<index>`, Item.Name); a forEach step's name selects all its items' lines;
//	     a page also ends before its lines' text would pass MaxLogPageBytes (its cursor resumes there)
//	     with ?follow=true or Accept: text/event-stream      → SSE: `event: line` data LogEntry (id: cursor), `event: end` data LogStreamEnd when the Run
//	     finished and all lines were sent, the Run was deleted, or the caller may no longer read its logs;
//	     a reconnect with Last-Event-ID resumes after the last line received; 429 TooManyFollows (with Retry-After)
//	     when the caller or the namespace already has its maximum of follows open
//	GET  /api/v1/namespaces/{ns}/runs/{run}/artifacts        → ArtifactList
//	GET  /api/v1/namespaces/{ns}/runs/{run}/artifacts/{step}/{name}          → the content (Content-Type, Content-Disposition, ETag = digest, Range) ?attempt= (default latest);
//	     {step} may name a forEach item (`square.3`)
//	GET  /api/v1/namespaces/{ns}/runs/{run}/artifacts/{step}/{name}/preview  → Preview ?attempt=
//	POST /api/v1/namespaces/{ns}/runs/{run}/replay           → 201 RunRef (a new Run with the same input, spec.replayOf = run);
//	     with header Idempotency-Key the name derives from it and a repeat answers 200 with the same Run;
//	     409 when admission (a plan limit) refuses the new Run
//	POST /api/v1/namespaces/{ns}/runs/{run}/resume           → 201 RunRef (a new Run, spec.resumeOf = run, that reruns what did not
//	     succeed: the steps that Succeeded in run take its outputs, Step.CachedFrom); a Failed or Canceled Run only:
//	     409 NotFinished while it runs, 409 NothingToResume when it Succeeded (or was Rejected before any step ran);
//	     Idempotency-Key and 409 from admission as for replay
//	POST /api/v1/namespaces/{ns}/runs/{run}/cancel           → 202 RunRef; 409 when the Run already ended
//	POST /api/v1/namespaces/{ns}/runs/{run}/steps/{step}/approve → 200 Decision (body DecisionRequest, optional)
//	POST /api/v1/namespaces/{ns}/runs/{run}/steps/{step}/reject  → 200 Decision (body DecisionRequest, optional);
//	     both need RBAC create on runs/approve, then a name among the gate's approvers (403 NotAnApprover);
//	     404 for no such Run or step, 409 NotAGate, 409 NotWaiting (the gate was not reached yet or has ended),
//	     409 AlreadyDecided (DecisionConflict: the decision that stands); the same decision by the same
//	     user with the same comment again answers 200 with the first (a retried request)
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
// 403 Forbidden, 404 NotFound, 409 Conflict, 413 TooLarge, 429 TooManyFollows or
// RateLimited, 503 Unavailable (and the reasons a route names above).

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
	ResumeOf    string         `json:"resumeOf,omitempty"` // the Run this one resumes (its steps that Succeeded there have CachedFrom)
	Cancel      bool           `json:"cancel,omitempty"`
	DeliveryID  string         `json:"deliveryID,omitempty"`
	Message     string         `json:"message,omitempty"`
	Reason      string         `json:"reason,omitempty"` // the Ready condition's reason
	SpecDigest  string         `json:"specDigest,omitempty"`
	InputDigest string         `json:"inputDigest,omitempty"`
	Steps       []Step         `json:"steps"`
	Artifacts   []ArtifactInfo `json:"artifacts"` // the first MaxDetailArtifacts, by step, attempt and name
	// ArtifactsTruncated is true when the Run has more artifacts than Artifacts lists
	// (…/artifacts lists them all).
	ArtifactsTruncated bool `json:"artifactsTruncated,omitempty"`
	// Replay compares a replayed Run's step outputs with the original's.
	Replay *ReplayCheck `json:"replay,omitempty"`
}

// MaxDetailArtifacts bounds RunDetail.Artifacts.
const MaxDetailArtifacts = 100

// Step is one step of a Run: the frozen spec's shape plus the status.
type Step struct {
	Name      string   `json:"name"`
	DependsOn []string `json:"dependsOn,omitempty"`
	// Finally marks a finally step (spec.finally): it runs once every step has ended; its
	// dependsOn for drawing starts from the steps nothing else depends on.
	Finally         bool       `json:"finally,omitempty"`
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
	// CachedFrom is set on a step that did not run but took the outputs of an earlier
	// attempt: a step cache hit, or a step that Succeeded in the Run this one resumes.
	CachedFrom *CachedFrom `json:"cachedFrom,omitempty"`
	// ChildRun is the Run a workflowRef step started (same namespace).
	ChildRun string `json:"childRun,omitempty"`

	// Gate is set on an approval gate (a step that waits for a person's decision instead
	// of running a container): who may decide and what they are asked. While the gate
	// waits its phase is Waiting and its message "waiting for approval: <gate message>".
	Gate *Gate `json:"gate,omitempty"`
	// Approval is a gate's decision once made, by a person or by its timeout.
	Approval *Approval `json:"approval,omitempty"`

	// The items of a forEach step, once its list was evaluated (all unset otherwise).
	// The step's own attempts and jobName stay empty: its items run the attempts, and its
	// `result` (the array of the items' results) is the step's at attempt 1.

	// ItemTotal is how many items the step fanned out to.
	ItemTotal int `json:"itemTotal,omitempty"`
	// ItemCounts counts the items by phase (Pending, Running, Retrying, Succeeded,
	// Failed, Skipped, Canceled); a phase no item is in is left out.
	ItemCounts map[string]int `json:"itemCounts,omitempty"`
	// Items lists every item, item k at index k: at most 1000, the most a step may fan
	// out to (aiasv1alpha1.MaxItemsPerStep).
	Items []Item `json:"items,omitempty"`
}

// Item is one item of a forEach step. Its logs and artifacts are those of the step
// named Name (`?step=square.3`, `…/artifacts/square.3/result`).
type Item struct {
	Index int `json:"index"`
	// Name is `<step>.<index>`, what the item's attempts go by wherever an attempt is
	// named by its step: logs, artifacts, $AIAS_STEP.
	Name            string     `json:"name"`
	Phase           string     `json:"phase"`
	Attempts        int32      `json:"attempts,omitempty"`
	JobName         string     `json:"jobName,omitempty"`
	NextAttemptTime *time.Time `json:"nextAttemptTime,omitempty"`
	// RunSeconds is how long the command of the item's latest attempt ran (step-run's
	// measure, to the millisecond).
	RunSeconds   *float64 `json:"runSeconds,omitempty"`
	ExitCode     *int32   `json:"exitCode,omitempty"`
	Message      string   `json:"message,omitempty"`
	OutputDigest string   `json:"outputDigest,omitempty"`
}

// CachedFrom names the attempt a cached step took its outputs from: step Step, attempt Attempt, of Run Run in the same namespace.
type CachedFrom struct {
	Run     string `json:"run"`
	Step    string `json:"step"`
	Attempt int32  `json:"attempt"`
}

// Gate is an approval gate's spec, as the Run froze it.
type Gate struct {
	// Approvers narrows who may decide (besides RBAC create on runs/approve); empty:
	// anyone with that permission.
	Approvers []Approver `json:"approvers,omitempty"`
	Message   string     `json:"message,omitempty"`
	// Deadline is when the gate's timeout decides, once it waits; OnTimeout is what it
	// decides then: Reject or Approve.
	Deadline  *time.Time `json:"deadline,omitempty"`
	OnTimeout string     `json:"onTimeout"`
}

// Approver is a user or a group (Kind "User" or "Group") that may decide a gate, by the
// name the apiserver authenticates.
type Approver struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Approval is the decision on a gate.
type Approval struct {
	// Decision is "Approved" or "Rejected".
	Decision string `json:"decision"`
	// By is the user who decided; empty when the timeout did (TimedOut).
	By       string    `json:"by,omitempty"`
	Comment  string    `json:"comment,omitempty"`
	Time     time.Time `json:"time"`
	TimedOut bool      `json:"timedOut,omitempty"`
}

// DecisionRequest is the body of POST …/steps/{step}/approve and …/reject. The comment
// (at most MaxApprovalComment bytes) is kept with the decision and shown with the step.
type DecisionRequest struct {
	Comment string `json:"comment,omitempty"`
}

// MaxApprovalComment bounds a decision's comment (the Run status field's cap).
const MaxApprovalComment = 1024

// Decision is a decision recorded on a Run's gate: the answer of approve and reject.
// The Run controller applies it to the step within moments.
type Decision struct {
	Namespace string `json:"namespace"`
	Run       string `json:"run"`
	Step      string `json:"step"`
	Approval
}

// DecisionConflict is the 409 AlreadyDecided answer of approve and reject: the error
// and the decision that stands (the first one wins).
type DecisionConflict struct {
	Error    string   `json:"error"`
	Reason   string   `json:"reason"`
	Decision Decision `json:"decision"`
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
	// Match is "match", "differs", "pending", or "cached" when the replay's step took a
	// cached attempt's outputs (CachedFrom names it; such a step proves nothing either way
	// and leaves the verdict alone).
	Match      string `json:"match"`
	CachedFrom string `json:"cachedFrom,omitempty"`
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
// It holds at most the request's limit of lines and MaxLogPageBytes of their text (a
// first line longer than that comes alone).
type LogPage struct {
	Items  []LogEntry `json:"items"`
	Cursor string     `json:"cursor"`
	// Finished is true when the Run has ended (no more lines will come).
	Finished bool `json:"finished"`
}

// MaxLogPageBytes bounds the line text of one LogPage, and of each batch a follow sends.
const MaxLogPageBytes = 4 << 20

// LogStreamEnd is the data of a log follow's `end` event: the stream is over and a
// reconnect would not resume it.
type LogStreamEnd struct {
	// Phase is the Run's phase as last read.
	Phase string `json:"phase"`
	// Deleted is true when the Run was deleted (or replaced by a new Run of the same name).
	Deleted bool `json:"deleted,omitempty"`
	// Forbidden is true when the caller may no longer read the Run's logs: its access was
	// revoked or its token is no longer valid (Message says which). A follow asks again
	// at an interval (the webhookserver's --user-follow-access-recheck).
	Forbidden bool   `json:"forbidden,omitempty"`
	Message   string `json:"message,omitempty"`
}

// RunRef names a Run the API created or changed.
type RunRef struct {
	Namespace string `json:"namespace"`
	Run       string `json:"run"`
	Status    string `json:"status"` // "created" (a replay, a resume or a manual Run) or "canceling"
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
