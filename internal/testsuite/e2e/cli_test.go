package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"

	"github.com/aias-dev/aias/internal/userapi"
)

// The CLI tests run the built binary the way a user does, with the user API's URL and
// the acme/ci token in the environment, against the sample tenant.
const (
	cliNS     = "acme"
	cliSample = "release-notes-manual-1"
)

// cliResult is one finished invocation.
type cliResult struct {
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// cliEnv is the environment of a CLI run: the user API and the tenant's token, and a
// kubeconfig path that does not exist, so nothing leaks in from the machine's own.
func cliEnv(extra ...string) []string {
	env := append(os.Environ(), "AIAS_SERVER="+stack.UserURL, "AIAS_USER_TOKEN="+stack.Token,
		"KUBECONFIG="+filepath.Join(os.TempDir(), "aias-e2e-no-kubeconfig"))
	return append(env, extra...)
}

// runCLI runs binary (stack.Aias unless a test names another) with args and env.
func runCLI(t *testing.T, binary string, env []string, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := cliResult{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		res.code = exit.ExitCode()
	case err != nil:
		t.Fatalf("aias %s: %v", strings.Join(args, " "), err)
	}
	return res
}

// aias runs the CLI and fails the test unless it exits 0.
func aias(t *testing.T, args ...string) string {
	t.Helper()
	res := runCLI(t, stack.Aias, cliEnv(), args...)
	if res.code != 0 {
		t.Fatalf("aias %s: %s", strings.Join(args, " "), res)
	}
	return res.stdout
}

// tableRow finds the row of a kubectl-style table whose first cell is name.
func tableRow(out, name string) []string {
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == name {
			return f
		}
	}
	return nil
}

// The sample Run through every read command: list, describe, JSON and YAML, logs,
// artifacts and a verified download.
func TestCLIReadsSampleRun(t *testing.T) {
	run := waitRunPhase(t, cliNS, cliSample, aiasv1alpha1.RunSucceeded, 3*time.Minute)

	// The list reads the run index, which follows the Run's status shortly after.
	var out string
	deadline := time.Now().Add(30 * time.Second)
	for {
		out = aias(t, "runs", "-n", cliNS)
		if r := tableRow(out, cliSample); len(r) >= 3 && r[2] == "Succeeded" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("aias runs never listed %s as Succeeded:\n%s", cliSample, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Logf("aias runs -n acme:\n%s", out)
	if !strings.HasPrefix(out, "NAME") || !regexp.MustCompile(`(?m)^NAME\s+WORKFLOW\s+PHASE\s+TRIGGER\s+AGE\s+DURATION$`).MatchString(out) {
		t.Errorf("header: %q", out)
	}
	if r := tableRow(out, cliSample); r[1] != "release-notes" || r[3] != "Manual" {
		t.Errorf("row %q", r)
	}
	filtered := aias(t, "runs", "-n", cliNS, "--workflow", "release-notes", "--phase", "Succeeded", "--since", "1h", "--limit", "5")
	if tableRow(filtered, cliSample) == nil {
		t.Errorf("filtered list lacks the sample:\n%s", filtered)
	}
	var list userapi.RunList
	if err := json.Unmarshal([]byte(aias(t, "runs", "-n", cliNS, "--all", "-o", "json")), &list); err != nil || len(list.Items) == 0 {
		t.Errorf("runs -o json: %v %+v", err, list)
	}

	// Describe.
	out = aias(t, "get", "run", cliSample, "-n", cliNS)
	t.Logf("aias get run:\n%s", out)
	for _, want := range []string{"Name:", cliSample, "Phase:", "Succeeded", "Steps:", "Artifacts:"} {
		if !strings.Contains(out, want) {
			t.Errorf("get run lacks %q", want)
		}
	}
	if !regexp.MustCompile(`STEP\s+PHASE\s+ATTEMPTS\s+EXIT\s+DURATION\s+MESSAGE`).MatchString(out) {
		t.Error("get run has no steps table header")
	}
	for _, step := range []string{"parse", "count", "summarize"} {
		if r := tableRow(out, step); len(r) < 4 || r[1] != "Succeeded" || r[3] != "0" {
			t.Errorf("step %s row %q", step, r)
		}
	}
	var detail userapi.RunDetail
	if err := json.Unmarshal([]byte(aias(t, "get", "run", cliSample, "-n", cliNS, "-o", "json")), &detail); err != nil {
		t.Fatal(err)
	}
	if detail.Name != cliSample || len(detail.Steps) != 3 || detail.Phase != "Succeeded" {
		t.Errorf("get run -o json: %+v", detail)
	}
	var fromYAML userapi.RunDetail
	if err := yaml.Unmarshal([]byte(aias(t, "get", "run/"+cliSample, "-n", cliNS, "-o", "yaml")), &fromYAML); err != nil || fromYAML.Name != cliSample {
		t.Errorf("get run -o yaml: %v %+v", err, fromYAML)
	}

	// Logs: every step's lines, prefixed; --step narrows.
	out = aias(t, "logs", cliSample, "-n", cliNS)
	t.Logf("aias logs:\n%s", out)
	for _, want := range []string{`[parse] {"received":`, `[count] {"bytes":`, "[summarize] release notes generated at"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q", want)
		}
	}
	out = aias(t, "logs", cliSample, "-n", cliNS, "--step", "count")
	if !strings.Contains(out, "[count]") || strings.Contains(out, "[parse]") {
		t.Errorf("logs --step count:\n%s", out)
	}

	// Artifacts: the table, then parse/result to stdout and to a file; its sha256 is the
	// digest the Run status records.
	out = aias(t, "artifacts", cliSample, "-n", cliNS)
	t.Logf("aias artifacts:\n%s", out)
	if !regexp.MustCompile(`(?m)^parse\s+1\s+result\s`).MatchString(out) {
		t.Errorf("artifacts table lacks parse/result")
	}
	want := ""
	for _, a := range run.Status.Artifacts {
		if a.Step == "parse" && a.Name == "result" {
			want = a.Digest
		}
	}
	if want == "" {
		t.Fatalf("the Run status has no parse/result artifact: %+v", run.Status.Artifacts)
	}
	content := aias(t, "artifacts", "get", cliSample, "parse/result", "-n", cliNS)
	if sum := sha256.Sum256([]byte(content)); "sha256:"+hex.EncodeToString(sum[:]) != want {
		t.Errorf("downloaded %q hashes to %x, the status says %s", content, sum, want)
	}
	if !strings.Contains(content, `"received"`) {
		t.Errorf("parse/result = %q", content)
	}
	file := filepath.Join(t.TempDir(), "result.json")
	aias(t, "artifacts", "get", cliSample, "parse/result", "-n", cliNS, "-o", file)
	if b, err := os.ReadFile(file); err != nil || string(b) != content {
		t.Errorf("-o file: %q %v", b, err)
	}
}

// aias replay prints the new Run's name; the replay succeeds and its describe view
// compares each step's output with the original's.
func TestCLIReplay(t *testing.T) {
	waitRunPhase(t, cliNS, cliSample, aiasv1alpha1.RunSucceeded, 3*time.Minute)
	name := strings.TrimSpace(aias(t, "replay", cliSample, "-n", cliNS))
	if name == "" || strings.ContainsAny(name, " \n") {
		t.Fatalf("replay printed %q, want the new run's name", name)
	}
	rep := waitRunPhase(t, cliNS, name, aiasv1alpha1.RunSucceeded, 2*time.Minute)
	if rep.Spec.ReplayOf != cliSample {
		t.Errorf("spec.replayOf = %q", rep.Spec.ReplayOf)
	}
	out := aias(t, "get", "run", name, "-n", cliNS)
	t.Logf("aias get run %s:\n%s", name, out)
	if !strings.Contains(out, "Determinism check (replay of "+cliSample+")") ||
		!regexp.MustCompile(`STEP\s+ORIGINAL\s+REPLAY\s+MATCH`).MatchString(out) {
		t.Fatal("no determinism check in the replay's describe view")
	}
	// parse and count are functions of the input; summarize prints the time, so its
	// verdict depends on the second it ran in.
	_, check, _ := strings.Cut(out, "Determinism check")
	for _, step := range []string{"parse", "count"} {
		if r := tableRow(check, step); len(r) != 4 || r[3] != "match" || r[1] != r[2] {
			t.Errorf("determinism row for %s: %q", step, r)
		}
	}
	if !regexp.MustCompile(`Verdict: (match|differs)`).MatchString(out) {
		t.Error("no final verdict")
	}
}

// tickerWorkflow prints "tick N" every half second, N from 1 to the input's number: a
// step that is running long enough to follow or cancel.
func tickerWorkflow(t *testing.T) {
	t.Helper()
	wf := &aiasv1alpha1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Namespace: cliNS, Name: "cli-ticker"},
		Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{
			Name: "tick", Image: "debian:bookworm-slim", Command: []string{"sh", "-c"},
			Args:    []string{`n=$(tr -cd 0-9 < "$AIAS_INPUT"); i=1; while [ "$i" -le "$n" ]; do echo "tick $i"; i=$((i+1)); sleep 0.5; done`},
			Timeout: &metav1.Duration{Duration: 5 * time.Minute},
		}}},
	}
	if err := stack.Client.Create(context.Background(), wf); err != nil && !strings.Contains(err.Error(), "already exists") {
		t.Fatal(err)
	}
}

// startTicker creates a Run of cli-ticker with n ticks and waits until it runs.
func startTicker(t *testing.T, n int) string {
	t.Helper()
	tickerWorkflow(t)
	run := &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{Namespace: cliNS, GenerateName: "cli-ticker-"},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "cli-ticker"},
			Trigger: &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerManual}, Input: ptr.To(fmt.Sprintf(`{"ticks":%d}`, n))},
	}
	if err := stack.Client.Create(context.Background(), run); err != nil {
		t.Fatal(err)
	}
	waitRunPhase(t, cliNS, run.Name, aiasv1alpha1.RunRunning, time.Minute)
	return run.Name
}

// aias logs -f streams a running Run's lines as they are written and exits 0 when the
// Run ends, having printed every line once, in order.
func TestCLIFollowLogs(t *testing.T) {
	const ticks = 8
	name := startTicker(t, ticks)
	cmd := exec.Command(stack.Aias, "logs", "-f", name, "-n", cliNS)
	cmd.Env = cliEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()

	var got []string
	timeout := time.After(time.Minute)
	for done := false; !done; {
		select {
		case line, ok := <-lines:
			if !ok {
				done = true
				break
			}
			if len(got) == 0 {
				// Streaming, not a dump at the end: the first line is here while the Run runs.
				r := &aiasv1alpha1.Run{}
				if err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: cliNS, Name: name}, r); err != nil {
					t.Fatal(err)
				}
				if r.Status.Phase.Finished() {
					t.Errorf("the first line arrived only after the run ended %s", r.Status.Phase)
				}
			}
			got = append(got, line)
		case <-timeout:
			_ = cmd.Process.Kill()
			_ = cmd.Wait() // so stderr is complete and no longer written
			t.Fatalf("logs -f still running after a minute; lines so far %q\n%s", got, stderr.String())
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("logs -f: %v\n%s", err, stderr.String())
	}
	var want []string
	for i := 1; i <= ticks; i++ {
		want = append(want, fmt.Sprintf("[tick] tick %d", i))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("logs -f printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	r := &aiasv1alpha1.Run{}
	if err := stack.Client.Get(context.Background(), client.ObjectKey{Namespace: cliNS, Name: name}, r); err != nil || !r.Status.Phase.Finished() {
		t.Errorf("logs -f returned while the run is %s (%v)", r.Status.Phase, err)
	}
}

// aias cancel stops a long Run; it ends Canceled, and a second cancel is a conflict.
func TestCLICancel(t *testing.T) {
	name := startTicker(t, 600)
	out := aias(t, "cancel", name, "-n", cliNS)
	if strings.TrimSpace(out) != "run/"+name+" canceling" {
		t.Errorf("cancel printed %q", out)
	}
	waitRunPhase(t, cliNS, name, aiasv1alpha1.RunCanceled, time.Minute)
	res := runCLI(t, stack.Aias, cliEnv(), "cancel", name, "-n", cliNS)
	if res.code == 0 || !strings.Contains(res.stderr, "Error from server (Conflict)") {
		t.Errorf("cancel of a canceled run: %s", res)
	}
}

// Refusals read like kubectl's, exit non-zero, and say what to fix.
func TestCLIErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"bad token", cliEnv("AIAS_USER_TOKEN=not-a-kubernetes-token"), []string{"runs", "-n", cliNS}, "Error from server (Unauthorized)"},
		{"other tenant", cliEnv(), []string{"runs", "-n", "default"}, "Error from server (Forbidden)"},
		{"no such run", cliEnv(), []string{"get", "run", "no-such-run", "-n", cliNS}, "Error from server (NotFound)"},
		{"no server", cliEnv("AIAS_SERVER="), []string{"runs", "-n", cliNS}, "--server <url> or set AIAS_SERVER"},
		{"no token", cliEnv("AIAS_USER_TOKEN="), []string{"runs", "-n", cliNS}, "--token or set AIAS_USER_TOKEN"},
		{"bad flag", cliEnv(), []string{"runs", "--frobnicate"}, "See 'aias runs --help'"},
	} {
		res := runCLI(t, stack.Aias, tc.env, tc.args...)
		if res.code == 0 || !strings.Contains(res.stderr, tc.want) {
			t.Errorf("%s: want a failure saying %q, got %s", tc.name, tc.want, res)
		}
	}
}

// The token and namespace come from a kubeconfig context when the environment has none,
// and the binary works as the kubectl plugin kubectl-aias.
func TestCLIKubeconfigAndKubectlPlugin(t *testing.T) {
	waitRunPhase(t, cliNS, cliSample, aiasv1alpha1.RunSucceeded, 3*time.Minute)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	doc := fmt.Sprintf(`apiVersion: v1
kind: Config
current-context: acme-ci
contexts:
- name: acme-ci
  context: {cluster: dev, user: ci, namespace: %s}
clusters:
- name: dev
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: ci
  user: {token: %q}
`, cliNS, stack.Token)
	if err := os.WriteFile(kubeconfig, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "AIAS_SERVER="+stack.UserURL, "AIAS_USER_TOKEN=", "KUBECONFIG="+kubeconfig)
	if res := runCLI(t, stack.Aias, env, "runs"); res.code != 0 || tableRow(res.stdout, cliSample) == nil {
		t.Errorf("runs with the kubeconfig's token and namespace: %s", res)
	}
	if res := runCLI(t, stack.Aias, env, "whoami"); res.code != 0 || !strings.Contains(res.stdout, "system:serviceaccount:acme:ci") {
		t.Errorf("whoami with the kubeconfig's token: %s", res)
	}

	plugin := filepath.Join(dir, "kubectl-aias")
	if err := os.Symlink(stack.Aias, plugin); err != nil {
		t.Fatal(err)
	}
	if res := runCLI(t, plugin, cliEnv(), "get", "run", cliSample, "-n", cliNS); res.code != 0 || tableRow(res.stdout, "summarize") == nil {
		t.Errorf("kubectl-aias get run: %s", res)
	}
	if res := runCLI(t, plugin, cliEnv(), "help"); res.code != 0 || !strings.Contains(res.stdout, "Usage: kubectl aias") || !strings.Contains(res.stdout, "runs") {
		t.Errorf("kubectl-aias help: %s", res)
	}

	// Through kubectl itself, which finds plugins on PATH, when envtest brought one.
	kubectl := filepath.Join(os.Getenv("KUBEBUILDER_ASSETS"), "kubectl")
	if _, err := os.Stat(kubectl); err != nil {
		t.Logf("no kubectl in KUBEBUILDER_ASSETS: skipping `kubectl aias`")
		return
	}
	env = append(cliEnv(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	res := runCLI(t, kubectl, env, "aias", "runs", "-n", cliNS)
	if res.code != 0 || tableRow(res.stdout, cliSample) == nil {
		t.Errorf("kubectl aias runs: %s", res)
	}
	t.Logf("kubectl aias runs -n acme:\n%s", res.stdout)
}
