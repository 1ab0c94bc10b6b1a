package stepjob

import (
	"fmt"
	"time"
)

// The environment the Run controller gives the step container and step-run reads. Step
// env in a Workflow may not use the AIAS_ prefix (the schema refuses it), so these
// cannot be overridden.
const (
	EnvAPIURL    = "AIAS_API_URL"    // base URL of the internal step API
	EnvToken     = "AIAS_TOKEN"      // the per-run token, from the Run's token Secret (TokenKey)
	EnvNamespace = "AIAS_NAMESPACE"  // the Run's namespace
	EnvRun       = "AIAS_RUN"        // the Run's name
	EnvStep      = "AIAS_STEP"       // the step's name; for an item of a forEach step <step>.<index>
	EnvItem      = "AIAS_ITEM"       // a forEach step's item, as JSON
	EnvItemIndex = "AIAS_ITEM_INDEX" // a forEach step's item's index, from 0
	EnvAttempt   = "AIAS_ATTEMPT"    // the attempt number, from 1
	EnvFrom      = "AIAS_FROM"       // the steps this one depends on, comma-separated
	EnvWorkDir   = "AIAS_WORK_DIR"   // where step-run writes the input file (WorkDir)
	EnvOutputDir = "AIAS_OUTPUT_DIR" // every file here becomes an artifact (OutputDir)
	// EnvInput is set by step-run for the command: the path of the input file.
	EnvInput = "AIAS_INPUT"
)

// The internal step API, which step-run calls and the webhookserver's internal listener
// serves. Every route is under one step attempt's path and needs the per-run token as
// "Authorization: Bearer <token>".
const (
	// AttemptPathPattern is the attempt's path as a net/http ServeMux pattern.
	AttemptPathPattern = "/internal/v1/namespaces/{namespace}/runs/{run}/steps/{step}/attempts/{attempt}"

	// PathInput (GET, ?from=a,b) serves the step's input: the Run's input, or its
	// dependencies' results.
	PathInput = "/input"
	// PathLogs (POST) appends a LogBatch.
	PathLogs = "/logs"
	// PathArtifacts (PUT PathArtifacts + name) stores an artifact; DigestHeader announces
	// its sha256, which the server checks.
	PathArtifacts = "/artifacts/"
	// PathOutcome (PUT) records the attempt's Outcome, step-run's last call.
	PathOutcome = "/outcome"

	// DigestHeader carries "sha256:<hex>" of an uploaded artifact.
	DigestHeader = "X-AIAS-Digest"
	// ResultArtifact is the artifact step-run makes of the command's stdout.
	ResultArtifact = "result"
)

// AttemptPath is AttemptPathPattern filled in.
func AttemptPath(namespace, run, step string, attempt int) string {
	return fmt.Sprintf("/internal/v1/namespaces/%s/runs/%s/steps/%s/attempts/%d", namespace, run, step, attempt)
}

// Log streams of a LogLine.
const (
	StreamStdout = "stdout"
	StreamStderr = "stderr"
	// StreamSystem carries step-run's own notes (e.g. lines it had to drop).
	StreamSystem = "system"
)

// ValidStream reports whether s is one of the log streams.
func ValidStream(s string) bool {
	return s == StreamStdout || s == StreamStderr || s == StreamSystem
}

// LogLine is one line a step wrote, numbered per stream by the writer so that retries
// and concurrent writers can neither duplicate nor reorder lines.
type LogLine struct {
	Stream string    `json:"stream"` // StreamStdout, StreamStderr or StreamSystem
	Seq    int64     `json:"seq"`    // position within the stream of this step attempt, from 1
	Time   time.Time `json:"time"`   // when the line was read
	Line   string    `json:"line"`
	// Raw carries the line instead of Line when its bytes are not text, that is not valid
	// UTF-8 or holding a NUL byte: JSON strings cannot carry such bytes (encoders replace
	// invalid UTF-8 with U+FFFD), base64 can. Line is then empty. The API stores the
	// bytes exactly and shows them with U+FFFD for each byte that is not text.
	Raw []byte `json:"raw,omitempty"`
}

// LogBatch is the body of POST PathLogs.
type LogBatch struct {
	Lines []LogLine `json:"lines"`
}

// Outcome is the body of PUT PathOutcome: the exit code step-run exits with and, when the
// step failed, why. The Run controller puts both in the Run's step status.
type Outcome struct {
	// ExitCode is required; a pointer so that a missing one is told from 0.
	ExitCode *int   `json:"exitCode"`
	Message  string `json:"message,omitempty"`
	// RunSeconds is how long the command ran, by step-run's monotonic clock: finer than
	// the second-granular times of the Job and the Run status (0 when it never started).
	RunSeconds float64 `json:"runSeconds,omitempty"`
}
