package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/aias-dev/aias/internal/stepjob"
)

// isHelp reports whether a is one of the spellings of the help flag the flag package
// accepts, for the commands that take no flags of their own.
func isHelp(a string) bool {
	switch a {
	case "-h", "--h", "-help", "--help":
		return true
	}
	return false
}

// stepRunUsage is step-run's help: it has no flags, only the environment the Run
// controller gives every step container.
func stepRunUsage(w io.Writer) {
	fmt.Fprintf(w, `Usage: %s step-run -- <command> [args...]

Runs a step's command inside a step pod (the Run controller makes every step container's
command this): it fetches the step's input, streams the command's output to the step API as
log lines, uploads the files left in $%s as artifacts and reports the outcome.
It exits with the command's exit code.

Environment (the Run controller sets it):
  %s
`, progName(), stepjob.EnvOutputDir, strings.Join([]string{
		stepjob.EnvAPIURL, stepjob.EnvToken, stepjob.EnvNamespace, stepjob.EnvRun, stepjob.EnvStep,
		stepjob.EnvAttempt, stepjob.EnvFrom, stepjob.EnvWorkDir, stepjob.EnvOutputDir}, " "))
}

// mainUsage lists the commands, on stdout when asked for and on stderr after a mistake.
func mainUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\nCommands:\n", progName())
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's flags.\n", progName())
}
