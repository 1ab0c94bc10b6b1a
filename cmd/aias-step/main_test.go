package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aias-dev/aias/internal/stepjob"
)

func runMain(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// Help, asked for, goes to stdout with exit 0, for the binary and each command.
func TestHelp(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Usage: aias-step <command>"},
		{[]string{"-h"}, "Usage: aias-step <command>"},
		{[]string{"help"}, "Usage: aias-step <command>"},
		{[]string{"step-run", "--help"}, "Usage: aias-step step-run -- <command>"},
		{[]string{"step-run", "-h"}, "Usage: aias-step step-run -- <command>"},
		{[]string{"install-runner", "--help"}, "Usage: aias-step install-runner <destination>"},
		{[]string{"install-runner", "-h"}, "Usage: aias-step install-runner <destination>"},
	} {
		code, stdout, stderr := runMain(c.args...)
		if code != 0 || !strings.HasPrefix(stdout, c.want) || stderr != "" {
			t.Errorf("aias-step %s: exit %d, stdout %.100q, stderr %q; want exit 0 and stdout starting %q",
				strings.Join(c.args, " "), code, stdout, stderr, c.want)
		}
	}
}

// A mistake in the command line exits 2 with the reason and the usage on stderr only.
func TestMistakes(t *testing.T) {
	for _, args := range [][]string{{}, {"manager"}, {"install-runner"}, {"install-runner", "a", "b"}, {"install-runner", "--"}, {"install-runner", ""}} {
		code, stdout, stderr := runMain(args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "Usage: aias-step") {
			t.Errorf("aias-step %q: exit %d, stdout %q, stderr %q; want exit 2 and the usage on stderr", args, code, stdout, stderr)
		}
	}
}

// step-run without the environment the Run controller gives, or without a command, exits
// 2 before it runs or calls anything, saying what is missing.
func TestStepRunChecksItsEnvironment(t *testing.T) {
	for _, name := range []string{stepjob.EnvAPIURL, stepjob.EnvToken, stepjob.EnvTicket, stepjob.EnvNamespace, stepjob.EnvRun,
		stepjob.EnvStep, stepjob.EnvAttempt, stepjob.EnvFrom, stepjob.EnvWorkDir, stepjob.EnvOutputDir} {
		t.Setenv(name, "")
	}
	code, stdout, stderr := runMain("step-run", "--", "true")
	if code != 2 || stdout != "" || !strings.HasPrefix(stderr, "aias-step step-run: missing environment: ") ||
		!strings.Contains(stderr, stepjob.EnvAPIURL) || !strings.Contains(stderr, stepjob.EnvToken) {
		t.Errorf("no environment: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	for name, v := range map[string]string{stepjob.EnvAPIURL: "http://127.0.0.1:1", stepjob.EnvToken: "t", stepjob.EnvNamespace: "ns",
		stepjob.EnvRun: "r", stepjob.EnvStep: "s", stepjob.EnvAttempt: "1"} {
		t.Setenv(name, v)
	}
	for _, args := range [][]string{{"step-run"}, {"step-run", "--"}} {
		code, stdout, stderr = runMain(args...)
		if code != 2 || stdout != "" || !strings.Contains(stderr, "no command") {
			t.Errorf("aias-step %q: exit %d, stdout %q, stderr %q; want exit 2, no command", args, code, stdout, stderr)
		}
	}
	t.Setenv(stepjob.EnvAttempt, "0")
	if code, _, stderr = runMain("step-run", "--", "true"); code != 2 || !strings.Contains(stderr, stepjob.EnvAttempt) {
		t.Errorf("attempt 0: exit %d, stderr %q", code, stderr)
	}
}

// install-runner copies the running executable (here the test binary) to the
// destination, executable by everyone, replacing what was there and leaving no
// temporary file; a destination it cannot write fails with exit 1 and leaves nothing.
func TestInstallRunner(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dst := filepath.Join(dir, "aias-step")
	if err := os.WriteFile(dst, []byte("an older copy"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"install-runner", dst}, {"install-runner", "--", dst}} {
		if code, stdout, stderr := runMain(args...); code != 0 || stdout != "" || stderr != "" {
			t.Fatalf("aias-step %q: exit %d, stdout %q, stderr %q", args, code, stdout, stderr)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s holds %d bytes, not the %d of %s", dst, len(got), len(want), self)
		}
		st, err := os.Stat(dst)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != 0o755 {
			t.Errorf("mode %v, want 0755", st.Mode().Perm())
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Errorf("%s holds %d entries, want only the copy", dir, len(entries))
		}
	}

	missing := filepath.Join(dir, "no-such-dir", "aias-step")
	code, stdout, stderr := runMain("install-runner", missing)
	if code != 1 || stdout != "" || !strings.HasPrefix(stderr, "aias-step install-runner: ") {
		t.Errorf("into a missing directory: exit %d, stdout %q, stderr %q; want exit 1 and the error", code, stdout, stderr)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("%s exists after a failed install", missing)
	}
}
