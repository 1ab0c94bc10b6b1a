package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runMain runs the dispatcher in-process, as `aias args...`, and returns its exit code
// and what it wrote to stdout and stderr.
func runMain(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	dir := t.TempDir()
	outFile, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	errFile, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	origOut, origErr, origWarn := os.Stdout, os.Stderr, deprecationWarnings
	os.Stdout, os.Stderr, deprecationWarnings = outFile, errFile, errFile
	code = Main(args)
	os.Stdout, os.Stderr, deprecationWarnings = origOut, origErr, origWarn
	_ = outFile.Close()
	_ = errFile.Close()
	o, _ := os.ReadFile(outFile.Name())
	e, _ := os.ReadFile(errFile.Name())
	return code, string(o), string(e)
}

// Every command, the roles included, answers --help (and -h) with its usage on stdout
// and exit 0, before it looks at the environment or a cluster.
func TestEveryCommandAnswersHelp(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "none")) // nothing may be needed
	cases := [][]string{{"--help"}, {"-h"}, {"help"}}
	for _, name := range commandNames() {
		cases = append(cases, []string{name, "--help"}, []string{name, "-h"}, []string{"help", name})
	}
	// Commands with subcommands answer at each level.
	cases = append(cases, []string{"run", "start", "--help"}, []string{"get", "run", "--help"}, []string{"artifacts", "get", "--help"})
	for _, args := range cases {
		code, stdout, stderr := runMain(t, args...)
		want := "Usage: aias "
		if args[0] != "help" && !isHelp(args[0]) {
			want += args[0]
		} else if len(args) > 1 {
			want += args[1]
		}
		if code != 0 || !strings.HasPrefix(stdout, want) || stderr != "" {
			t.Errorf("aias %s: exit %d, stdout %.200q…, stderr %.500q; want exit 0 and stdout starting %q",
				strings.Join(args, " "), code, stdout, stderr, want)
		}
	}
}

// A mistake is still an error on stderr, with the usage there and not on stdout.
func TestMistakesGoToStderr(t *testing.T) {
	for _, args := range [][]string{{}, {"no-such-command"}, {"runs", "--frobnicate"}, {"manager", "--frobnicate"}, {"install-runner"}} {
		code, stdout, stderr := runMain(t, args...)
		if code == 0 || stdout != "" || stderr == "" {
			t.Errorf("aias %s: exit %d, stdout %q, stderr %q; want a failure on stderr only", strings.Join(args, " "), code, stdout, stderr)
		}
	}
}

// Without a kubeconfig (and outside a pod) the commands that talk to the cluster say
// where they looked and how to point them at one, not client-go's "try setting
// KUBERNETES_MASTER".
func TestNoKubeconfigSaysHowToPointAtACluster(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-kubeconfig")
	t.Setenv("KUBECONFIG", missing)
	t.Setenv("KUBERNETES_SERVICE_HOST", "") // not in a pod
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	// The roles' required flags, so that they get as far as the cluster (nothing is read).
	roleFlags := []string{"--database-url=postgres://127.0.0.1:1/none", "--step-token-key-file=/none"}
	for _, args := range [][]string{append([]string{"manager"}, roleFlags...), append([]string{"webhookserver"}, roleFlags...), {"trigger", "some-endpoint"}} {
		code, _, stderr := runMain(t, args...)
		for _, want := range []string{"KUBECONFIG=" + missing, "Point `aias " + args[0] + "` at a cluster", "kubectl config use-context"} {
			if code == 0 || !strings.Contains(stderr, want) {
				t.Errorf("aias %s: exit %d, stderr %q; want a failure saying %q", strings.Join(args, " "), code, stderr, want)
			}
		}
		if strings.Contains(stderr, "KUBERNETES_MASTER") {
			t.Errorf("aias %s: stderr %q still points at KUBERNETES_MASTER", strings.Join(args, " "), stderr)
		}
	}

	// The user commands need a kubeconfig only for a token: they say so, and where they looked.
	t.Setenv("AIAS_SERVER", "http://127.0.0.1:1")
	t.Setenv("AIAS_USER_TOKEN", "")
	t.Setenv("AIAS_TOKEN", "")
	code, _, stderr := runMain(t, "runs")
	for _, want := range []string{"--token or set AIAS_USER_TOKEN", "KUBECONFIG=" + missing + " selects no kubeconfig context"} {
		if code == 0 || !strings.Contains(stderr, want) {
			t.Errorf("aias runs: exit %d, stderr %q; want a failure saying %q", code, stderr, want)
		}
	}
}
