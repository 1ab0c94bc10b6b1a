package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/utils/ptr"

	"github.com/aias-dev/aias/internal/userapi"
)

func TestAgeAndElapsed(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	for d, want := range map[time.Duration]string{
		5 * time.Second:                "5s",
		3 * time.Minute:                "3m",
		3*time.Minute + 20*time.Second: "3m",
		59 * time.Minute:               "59m",
		2 * time.Hour:                  "2h",
		4 * 24 * time.Hour:             "4d",
		-time.Second / 2:               "0s", // clock skew
	} {
		if got := age(now.Add(-d), now); got != want {
			t.Errorf("age(%v) = %q, want %q", d, got, want)
		}
	}
	if age(time.Time{}, now) != "" {
		t.Error("zero time should have no age")
	}
	for d, want := range map[time.Duration]string{
		42 * time.Millisecond:   "42ms",
		400 * time.Millisecond:  "400ms",
		1400 * time.Millisecond: "1.4s",
		9500 * time.Millisecond: "9.5s",
		75 * time.Second:        "75s",
		3 * time.Hour:           "3h",
	} {
		if got := elapsed(d); got != want {
			t.Errorf("elapsed(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestRunsTable(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	start := now.Add(-90 * time.Second)
	var out bytes.Buffer
	err := printRunsTable(&out, []userapi.RunSummary{
		{Name: "release-notes-manual-1", Workflow: "release-notes", Phase: "Succeeded", Trigger: "Manual",
			CreatedAt: now.Add(-4 * 24 * time.Hour), StartedAt: &start, DurationSeconds: ptr.To(1.25)},
		{Name: "github-push-5f0c", Workflow: "release-notes", Phase: "Running", Trigger: "Webhook", Endpoint: "github-push",
			CreatedAt: now.Add(-2 * time.Minute), StartedAt: &start},
		{Name: "q", Workflow: "w", Phase: "Queued", Trigger: "Replay", CreatedAt: now.Add(-5 * time.Second)},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := `NAME                     WORKFLOW        PHASE       TRIGGER               AGE   DURATION
release-notes-manual-1   release-notes   Succeeded   Manual                4d    1.2s
github-push-5f0c         release-notes   Running     Webhook/github-push   2m    90s
q                        w               Queued      Replay                5s    -
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestDescribeRunShowsStepsArtifactsAndReplay(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	created := now.Add(-time.Minute)
	d := &userapi.RunDetail{
		RunSummary: userapi.RunSummary{Namespace: "acme", Name: "r2", Workflow: "release-notes", Phase: "Succeeded",
			Trigger: "Replay", CreatedAt: created, DurationSeconds: ptr.To(2.5)},
		ReplayOf: "r1",
		Steps: []userapi.Step{
			{Name: "parse", Phase: "Succeeded", Attempts: 1, ExitCode: ptr.To[int32](0), DurationSeconds: ptr.To(1.0), RunSeconds: ptr.To(0.042)},
			{Name: "count", Phase: "Failed", Attempts: 3, ExitCode: ptr.To[int32](2), Message: "exit code 2\ntail"},
		},
		Artifacts: []userapi.ArtifactInfo{{Step: "parse", Attempt: 1, Name: "result", Size: 2048,
			Digest: "sha256:0123456789abcdef0123", ContentType: "application/json", CreatedAt: created}},
		Replay: &userapi.ReplayCheck{Of: "r1", SameSpec: true, Verdict: "match", Steps: []userapi.ReplayStep{
			{Name: "parse", Original: "sha256:0123456789abcdef0123", Replay: "sha256:0123456789abcdef0123", Match: "match"}}},
	}
	var out bytes.Buffer
	if err := describeRun(&out, d, now); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"Name:        r2\n",
		"Replay Of:   r1\n",
		"Created:     2026-07-01T11:59:00Z (1m ago)\n",
		"  STEP    PHASE       ATTEMPTS   EXIT   DURATION   MESSAGE\n",
		"  parse   Succeeded   1          0      42ms       -\n", // step-run's measured time beats whole-second status times
		"  count   Failed      3          2      -          exit code 2 tail\n",
		"  parse   1         result   2.0KiB   application/json   sha256:0123456789ab   1m\n",
		"Determinism check (replay of r1):\n",
		"  parse   sha256:0123456789ab   sha256:0123456789ab   match\n",
		"  Verdict: match\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("describe output lacks %q:\n%s", want, s)
		}
	}
}

// A resumed Run names the Run it resumes, and its cached steps the attempt whose outputs
// they took (unless their message says so already).
func TestDescribeRunShowsResumeAndCachedSteps(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	d := &userapi.RunDetail{
		RunSummary: userapi.RunSummary{Namespace: "acme", Name: "r1-resume-0123456789abcdef", Workflow: "release-notes", Phase: "Running",
			Trigger: "Resume", CreatedAt: now},
		ResumeOf: "r1",
		Steps: []userapi.Step{
			{Name: "parse", Phase: "Succeeded", CachedFrom: &userapi.CachedFrom{Run: "r1", Step: "parse", Attempt: 1}},
			{Name: "fetch", Phase: "Succeeded", CachedFrom: &userapi.CachedFrom{Run: "r1", Step: "fetch", Attempt: 3}, Message: "2 artifacts"},
			{Name: "hit", Phase: "Succeeded", CachedFrom: &userapi.CachedFrom{Run: "r0", Step: "hit", Attempt: 1}, Message: "cached from r0/hit (attempt 1)"},
			{Name: "count", Phase: "Running", Attempts: 1},
		},
	}
	var out bytes.Buffer
	if err := describeRun(&out, d, now); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{
		"Trigger:     Resume\n",
		"Resume Of:   r1\n",
		"  parse   Succeeded   0          -      -          cached from r1/parse\n",
		"  fetch   Succeeded   0          -      -          cached from r1/fetch (attempt 3); 2 artifacts\n",
		"  hit     Succeeded   0          -      -          cached from r0/hit (attempt 1)\n",
		"  count   Running     1          -      -          -\n",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("describe output lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "Replay Of") {
		t.Errorf("a resume shows a Replay Of:\n%s", s)
	}
}

// A Run waiting at approval gates says, under its steps, what each asks, who may decide
// until when, and how to decide.
func TestDescribeRunShowsWaitingGates(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	deadline := now.Add(23 * time.Hour)
	d := &userapi.RunDetail{
		RunSummary: userapi.RunSummary{Namespace: "acme", Name: "release-7", Workflow: "ship", Phase: "Waiting", CreatedAt: now},
		Steps: []userapi.Step{
			{Name: "build", Phase: "Succeeded", Attempts: 1},
			{Name: "prod", Phase: "Waiting", Message: "waiting for approval: ship it?", Gate: &userapi.Gate{Message: "ship it?",
				Approvers: []userapi.Approver{{Kind: "User", Name: "alice"}, {Kind: "Group", Name: "release"}}, Deadline: &deadline, OnTimeout: "Reject"}},
			{Name: "qa", Phase: "Waiting", Message: "waiting for approval", Gate: &userapi.Gate{OnTimeout: "Approve"}},
			{Name: "stage", Phase: "Succeeded", Message: "approved by bob", Gate: &userapi.Gate{OnTimeout: "Reject"},
				Approval: &userapi.Approval{Decision: "Approved", By: "bob"}},
		},
	}
	var out bytes.Buffer
	if err := describeRun(&out, d, now); err != nil {
		t.Fatal(err)
	}
	want := `
Waiting for approval:
  STEP   QUESTION   APPROVERS                   UNTIL
  prod   ship it?   User alice, Group release   2026-07-02T11:00:00Z (then reject)
  qa     -          anyone allowed              -
  Decide: aias approve|reject release-7 <step> -n acme [-m comment]

Artifacts:
`
	if !strings.Contains(out.String(), want) {
		t.Errorf("describe output lacks%s\n%s", want, out.String())
	}
	d.Steps = d.Steps[:1]
	out.Reset()
	if err := describeRun(&out, d, now); err != nil || strings.Contains(out.String(), "Waiting for approval") {
		t.Errorf("no gate waits, yet:\n%s", out.String())
	}
}

func TestWriteLogLine(t *testing.T) {
	var out bytes.Buffer
	writeLogLine(&out, userapi.LogEntry{Step: "parse", Attempt: 1, Stream: "stdout", Line: "hello"})
	writeLogLine(&out, userapi.LogEntry{Step: "count", Attempt: 2, Stream: "stderr", Line: "oops"})
	if out.String() != "[parse] hello\n[count#2 stderr] oops\n" {
		t.Errorf("%q", out.String())
	}
}

func TestHumanBytesAndShortDigest(t *testing.T) {
	for n, want := range map[int64]string{0: "0B", 1023: "1023B", 1536: "1.5KiB", 3 << 20: "3.0MiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	if got := shortDigest("sha256:5f70bf18a086007016e948b04aed3b82"); got != "sha256:5f70bf18a086" {
		t.Errorf("shortDigest = %q", got)
	}
}

// A forEach step's row counts its items by phase in place of attempts; its own message
// follows the counts.
func TestStepsTableCountsItems(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	var out bytes.Buffer
	err := stepsTable(&out, []userapi.Step{
		{Name: "list", Phase: "Succeeded", Attempts: 1, ExitCode: ptr.To[int32](0), DurationSeconds: ptr.To(1.0)},
		{Name: "square", Phase: "Running", ItemTotal: 12, ItemCounts: map[string]int{"Running": 3, "Succeeded": 8, "Failed": 1},
			Items: make([]userapi.Item, 12)},
		{Name: "cube", Phase: "Failed", ExitCode: ptr.To[int32](3), ItemTotal: 1, ItemCounts: map[string]int{"Failed": 1, "Paused": 0},
			Message: "item 0 failed: exit code 3"},
		{Name: "sum", Phase: "Succeeded", ItemTotal: 2, ItemCounts: map[string]int{"Succeeded": 1, "Evicted": 1}},
	}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := `  STEP     PHASE       ATTEMPTS   EXIT   DURATION   MESSAGE
  list     Succeeded   1          0      1s         -
  square   Running     -          -      -          12 items: 8 succeeded, 3 running, 1 failed
  cube     Failed      -          3      -          1 item: 1 failed; item 0 failed: exit code 3
  sum      Succeeded   -          -      -          2 items: 1 succeeded, 1 evicted
`
	if out.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", out.String(), want)
	}
}
