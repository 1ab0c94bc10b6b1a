package steprun_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/storetest"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
	"github.com/aias-dev/aias/webhookserver/stepapi"

	"github.com/aias-dev/aias/internal/stepjob"
)

var (
	testStore *store.Store
	aiasBin   string // the step runtime, aias-step
	api       *httptest.Server
	tokens    *steptoken.Issuer
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

// The tests run the real step runtime, `aias-step step-run` (cmd/aias-step, what step Pods
// run), as a subprocess against the real internal API on a real PostgreSQL.
func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cleanup func()
	var err error
	if testStore, cleanup, err = storetest.Open(ctx, "aias_steprun_test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	bin, err := os.MkdirTemp("", "aias-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(bin)
	aiasBin = filepath.Join(bin, "aias-step")
	if err := fixtures.BuildAiasStep(context.Background(), aiasBin); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	tokens, _ = steptoken.NewIssuer(bytes.Repeat([]byte("s"), 32))
	api = httptest.NewServer((&stepapi.Server{Store: testStore, Tokens: tokens, MaxArtifactBytes: 64 << 20, MaxLogBatch: 1000}).Handler())
	defer api.Close()
	return m.Run()
}

type stepRun struct {
	run      steptoken.Run
	step     string
	cmd      *exec.Cmd
	stdout   bytes.Buffer
	stderr   bytes.Buffer
	outDir   string
	exitCode int
}

// newStep registers a Run with input in the index and prepares `aias-step step-run -- args`.
func newStep(t *testing.T, name, input string, args ...string) *stepRun {
	t.Helper()
	ctx := context.Background()
	s := &stepRun{run: steptoken.Run{Namespace: "acme", Name: name, UID: fmt.Sprintf("00000000-0000-4000-8000-%012d", time.Now().UnixNano()%1e12)}, step: "build"}
	digest, err := testStore.PutInput(ctx, "acme", []byte(input), "application/json")
	if err != nil {
		t.Fatal(err)
	}
	if err := testStore.UpsertRun(ctx, store.RunRecord{UID: s.run.UID, Namespace: "acme", Name: name, Workflow: "wf", Phase: "Running", Trigger: "Manual", InputDigest: digest, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.outDir = t.TempDir()
	s.cmd = exec.Command(aiasBin, append([]string{"step-run", "--"}, args...)...)
	s.cmd.Env = append(os.Environ(),
		stepjob.EnvAPIURL+"="+api.URL, stepjob.EnvToken+"="+tokens.Issue(s.run), ticketEnv(s.run, "build"), stepjob.EnvNamespace+"=acme", stepjob.EnvRun+"="+name,
		stepjob.EnvStep+"=build", stepjob.EnvAttempt+"=1", stepjob.EnvOutputDir+"="+s.outDir, stepjob.EnvWorkDir+"="+t.TempDir())
	s.cmd.Stdout, s.cmd.Stderr = &s.stdout, &s.stderr
	return s
}

// ticketEnv is the attempt ticket of step's attempt 1, as the Run controller puts it in
// the Pod's env.
func ticketEnv(run steptoken.Run, step string) string {
	return stepjob.EnvTicket + "=" + tokens.IssueAttempt(steptoken.Attempt{Run: run, Step: step, Attempt: 1, Expires: time.Now().Add(time.Hour)})
}

func (s *stepRun) wait(t *testing.T) {
	t.Helper()
	err := s.cmd.Wait()
	if ee, ok := err.(*exec.ExitError); ok {
		s.exitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
}

func (s *stepRun) artifacts(t *testing.T) map[string]store.Artifact {
	t.Helper()
	list, err := testStore.ListArtifacts(context.Background(), s.run.UID)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]store.Artifact{}
	for _, a := range list {
		m[a.Name] = a
	}
	return m
}

// outcome is what step-run reported for the attempt.
func (s *stepRun) outcome(t *testing.T) store.StepOutcome {
	t.Helper()
	o, err := testStore.StepAttemptOutcome(context.Background(), s.run.UID, s.step, 1)
	if err != nil {
		t.Fatalf("outcome: %v", err)
	}
	return o
}

func (s *stepRun) content(t *testing.T, a store.Artifact) string {
	t.Helper()
	r, _, err := testStore.OpenBlob(context.Background(), a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	return string(b)
}

func (s *stepRun) logLines(t *testing.T, stream string) []string {
	t.Helper()
	lines, err := testStore.ReadLogs(context.Background(), store.LogTarget{RunUID: s.run.UID, Step: s.step, Attempt: 1}, stream, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range lines {
		out = append(out, l.Line)
	}
	return out
}

func TestStepSucceedsWithJSONResultAndOutputFiles(t *testing.T) {
	s := newStep(t, "ok", `{"ref":"main"}`, "sh", "-c", `
		read -r in
		echo "got $in" >&2
		printf '{"input":%s,"bytes":%s}\n' "$in" "$(wc -c < "$AIAS_INPUT" | tr -d ' ')"
		for n in a b c; do echo "file $n" > "$AIAS_OUTPUT_DIR/$n.txt"; done`)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if s.exitCode != 0 {
		t.Fatalf("exit %d, stderr:\n%s", s.exitCode, s.stderr.String())
	}
	if o := s.outcome(t); o.ExitCode != 0 || o.Message != "" || o.RunSeconds == nil || *o.RunSeconds <= 0 || *o.RunSeconds > 30 {
		t.Errorf("outcome = %+v (RunSeconds %v)", o, o.RunSeconds)
	}
	arts := s.artifacts(t)
	res, ok := arts["result"]
	if !ok || res.ContentType != "application/json" {
		t.Fatalf("result artifact = %+v", res)
	}
	if got := s.content(t, res); got != `{"input":{"ref":"main"},"bytes":14}`+"\n" {
		t.Errorf("result = %q", got)
	}
	for _, n := range []string{"a.txt", "b.txt", "c.txt"} {
		if a, ok := arts[n]; !ok || s.content(t, a) != "file "+strings.TrimSuffix(n, ".txt")+"\n" || !strings.HasPrefix(a.ContentType, "text/plain") {
			t.Errorf("output file %s: %+v", n, a)
		}
	}
	if got := s.logLines(t, "stderr"); len(got) != 1 || got[0] != `got {"ref":"main"}` {
		t.Errorf("stderr log = %q", got)
	}
	if !strings.Contains(s.stdout.String(), `"input"`) {
		t.Errorf("stdout not echoed for kubectl logs: %q", s.stdout.String())
	}
}

func TestStepFailureCodeAndTextResult(t *testing.T) {
	s := newStep(t, "fails", `{}`, "sh", "-c", `for i in 1 2 3; do echo "line $i"; done; exit 3`)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if s.exitCode != 3 {
		t.Fatalf("exit %d, want 3; stderr:\n%s", s.exitCode, s.stderr.String())
	}
	res := s.artifacts(t)["result"]
	if !strings.HasPrefix(res.ContentType, "text/plain") || s.content(t, res) != "line 1\nline 2\nline 3\n" {
		t.Errorf("result = %+v %q", res, s.content(t, res))
	}
	if got := s.logLines(t, "stdout"); strings.Join(got, "|") != "line 1|line 2|line 3" {
		t.Errorf("stdout log = %q", got)
	}
	if o := s.outcome(t); o.ExitCode != 3 || o.Message != "command exited with code 3" {
		t.Errorf("outcome = %+v", o)
	}
}

// SIGTERM (what the kubelet sends on deadline or cancel) reaches the command; the lines
// it printed before are not lost.
func TestStepForwardsSIGTERM(t *testing.T) {
	s := newStep(t, "killed", `{}`, "sh", "-c", `trap 'echo terminating; exit 143' TERM; echo started; while :; do sleep 0.05; done`)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(s.stdout.String(), "started") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if s.exitCode != 143 {
		t.Fatalf("exit %d, want 143; stderr:\n%s", s.exitCode, s.stderr.String())
	}
	if got := s.logLines(t, "stdout"); strings.Join(got, "|") != "started|terminating" {
		t.Errorf("stdout log = %q", got)
	}
	if o := s.outcome(t); o.ExitCode != 143 || o.Message != "command terminated by signal terminated" {
		t.Errorf("outcome = %+v", o)
	}
}

func TestStepCommandNotFound(t *testing.T) {
	s := newStep(t, "missing", `{}`, "/nonexistent/command")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if s.exitCode != 127 {
		t.Fatalf("exit %d, want 127", s.exitCode)
	}
	if got := s.logLines(t, "system"); len(got) == 0 || !strings.Contains(got[0], "starting /nonexistent/command") {
		t.Errorf("system log = %q", got)
	}
	if o := s.outcome(t); o.ExitCode != 127 || !strings.Contains(o.Message, "starting /nonexistent/command") {
		t.Errorf("outcome = %+v", o)
	}
}

// The API is down for the first requests of every kind (503): step-run retries with
// backoff and still delivers input, logs and the result.
func TestStepRetriesWhileAPIIsBrieflyDown(t *testing.T) {
	var mu sync.Mutex
	failures := map[string]int{}
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := r.Method + " " + path.Base(path.Dir(r.URL.Path)) + "/" + path.Base(r.URL.Path)
		mu.Lock()
		n := failures[kind]
		failures[kind]++
		mu.Unlock()
		if n < 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		api.Config.Handler.ServeHTTP(w, r)
	}))
	defer flaky.Close()
	s := newStep(t, "flaky", `{"n":1}`, "sh", "-c", `cat; echo; echo done`)
	for i, e := range s.cmd.Env {
		if strings.HasPrefix(e, stepjob.EnvAPIURL+"=") {
			s.cmd.Env[i] = stepjob.EnvAPIURL + "=" + flaky.URL
		}
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if s.exitCode != 0 {
		t.Fatalf("exit %d; stderr:\n%s", s.exitCode, s.stderr.String())
	}
	if got := s.content(t, s.artifacts(t)["result"]); got != "{\"n\":1}\ndone\n" {
		t.Errorf("result = %q", got)
	}
	if got := s.logLines(t, "stdout"); strings.Join(got, "|") != `{"n":1}|done` {
		t.Errorf("stdout log = %q", got)
	}
}

// A step that depends on others reads their results: one dependency verbatim, several
// as a JSON object keyed by step name.
func TestStepReadsDependencyResults(t *testing.T) {
	ctx := context.Background()
	s := newStep(t, "deps", `{}`, "sh", "-c", `cat`)
	for step, body := range map[string]string{"parse": `{"a":1}`, "count": "plain text"} {
		ct := "text/plain; charset=utf-8"
		if strings.HasPrefix(body, "{") {
			ct = "application/json"
		}
		key := store.ArtifactKey{Namespace: "acme", RunName: "deps", RunUID: s.run.UID, Step: step, Attempt: 1, Name: "result"}
		if _, err := testStore.PutArtifact(ctx, key, ct, strings.NewReader(body), 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	for from, want := range map[string]string{"parse": `{"a":1}`, "parse,count": `{"count":"plain text","parse":{"a":1}}` + "\n"} {
		run := newStep(t, "deps", `{}`, "sh", "-c", `cat`)
		run.run.UID = s.run.UID
		step := "sum" + strconv.Itoa(len(from)) // a step of its own: one attempt reports one outcome
		run.cmd.Env = append(run.cmd.Env, stepjob.EnvFrom+"="+from, stepjob.EnvStep+"="+step, stepjob.EnvToken+"="+tokens.Issue(s.run), ticketEnv(s.run, step))
		if err := run.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		run.wait(t)
		if run.exitCode != 0 || run.stdout.String() != strings.TrimSuffix(want, "\n")+"\n" {
			t.Errorf("from=%s: exit %d, stdout %q, want %q; stderr %s", from, run.exitCode, run.stdout.String(), want, run.stderr.String())
		}
	}
}

// A NUL byte and invalid UTF-8 in the output are stored byte for byte (shown with
// U+FFFD), and the lines after them too; the step ends at once instead of resending a
// batch the store refuses.
func TestStepLogsBytesThatAreNotText(t *testing.T) {
	s := newStep(t, "nul", `{}`, "sh", "-c", `printf 'a\0b\n'; seq 5; printf 'caf\351\n' >&2`)
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() { s.wait(t); close(waited) }()
	select {
	case <-waited:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-waited
		t.Fatalf("step-run still running after 30s; stderr:\n%s", s.stderr.String())
	}
	if s.exitCode != 0 {
		t.Fatalf("exit %d; stderr:\n%s", s.exitCode, s.stderr.String())
	}
	lines, err := testStore.ReadLogs(context.Background(), store.LogTarget{RunUID: s.run.UID, Step: s.step, Attempt: 1}, "stdout", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		if l.Raw != nil {
			got = append(got, fmt.Sprintf("%q(%s)", l.Raw, l.Line))
		} else {
			got = append(got, l.Line)
		}
	}
	if want := `"a\x00b"(a` + "\uFFFD" + `b)|1|2|3|4|5`; strings.Join(got, "|") != want {
		t.Errorf("stdout log = %s, want %s", strings.Join(got, "|"), want)
	}
	errLines, err := testStore.ReadLogs(context.Background(), store.LogTarget{RunUID: s.run.UID, Step: s.step, Attempt: 1}, "stderr", 0, 100)
	if err != nil || len(errLines) != 1 || string(errLines[0].Raw) != "caf\xe9" || errLines[0].Line != "caf\uFFFD" {
		t.Errorf("stderr log = %+v, %v", errLines, err)
	}
	if got := s.content(t, s.artifacts(t)["result"]); got != "a\x00b\n1\n2\n3\n4\n5\n" {
		t.Errorf("result = %q", got)
	}
}

// An API that refuses a line for good (400) costs that line only: step-run halves the
// batch until the refused line stands alone, notes it in the system stream and goes on.
func TestStepLogLineRefusedForGood(t *testing.T) {
	picky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, stepjob.PathLogs) {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte("poison")) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`{"error":"refused by policy","reason":"BadLine"}`))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		api.Config.Handler.ServeHTTP(w, r)
	}))
	defer picky.Close()
	s := newStep(t, "picky", `{}`, "sh", "-c", `seq 3; echo poison; echo after`)
	for i, e := range s.cmd.Env {
		if strings.HasPrefix(e, stepjob.EnvAPIURL+"=") {
			s.cmd.Env[i] = stepjob.EnvAPIURL + "=" + picky.URL
		}
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if s.exitCode != 0 {
		t.Fatalf("exit %d; stderr:\n%s", s.exitCode, s.stderr.String())
	}
	if got := s.logLines(t, "stdout"); strings.Join(got, "|") != "1|2|3|after" {
		t.Errorf("stdout log = %q, want every line but the refused one", got)
	}
	if got := s.logLines(t, "system"); len(got) != 1 || !strings.Contains(got[0], "stdout line 4 was refused") || !strings.Contains(got[0], "refused by policy") {
		t.Errorf("system log = %q", got)
	}
}
