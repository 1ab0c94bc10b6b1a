package steprun

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/aias-dev/aias/internal/stepjob"
)

// Command is `<prog> step-run [--] <command> [args...]`, as both binaries that have it
// run it (aias-step in step Pods, and aias): help on -h/--help, exit 2 on a missing
// environment or command, else the step's exit code (see Run).
func Command(prog string, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && IsHelp(args[0]) { // the command itself always follows "--"
		Usage(stdout, prog)
		return 0
	}
	cfg, err := ConfigFromEnv(args)
	if err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", prog, stepjob.StepRunCommand, err)
		return 2
	}
	return Run(context.Background(), cfg, stdout, stderr)
}

// IsHelp reports whether a is one of the spellings of the help flag the flag package
// accepts, for the commands that take no flags of their own.
func IsHelp(a string) bool {
	switch a {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// Usage is step-run's help: it has no flags, only the environment the Run controller
// gives every step container.
func Usage(w io.Writer, prog string) {
	fmt.Fprintf(w, `Usage: %s step-run -- <command> [args...]

Runs a step's command inside a step pod (the Run controller makes every step container's
command this): it fetches the step's input, streams the command's output to the step API as
log lines, uploads the files left in $%s as artifacts and reports the outcome.
It exits with the command's exit code.

Environment (the Run controller sets it):
  %s
`, prog, stepjob.EnvOutputDir, strings.Join([]string{
		stepjob.EnvAPIURL, stepjob.EnvToken, stepjob.EnvNamespace, stepjob.EnvRun, stepjob.EnvStep,
		stepjob.EnvAttempt, stepjob.EnvFrom, stepjob.EnvWorkDir, stepjob.EnvOutputDir}, " "))
}
