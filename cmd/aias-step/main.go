// Command aias-step is the step runtime: the small static binary that the init container
// of every step Pod copies out of the runner image (`aias-step install-runner <dst>`)
// and that the step container then runs (`aias-step step-run -- <command> [args...]`).
//
// It links internal/steprun, internal/stepjob and the standard library only, never the
// aias binary's manager, webhookserver, CLI, client-go or database driver: it is a
// fraction of the aias binary's size, so the init container copies it in a moment, and
// step-run's resident memory stays small beside the step's command, which shares the
// container's memory limit. `aias step-run` and `aias install-runner` are the same code.
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steprun"
)

const prog = "aias-step"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches args and returns the exit code: step-run's is the step command's;
// help asked for goes to stdout with exit 0; a mistake goes to stderr with exit 2.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	switch cmd, rest := args[0], args[1:]; {
	case cmd == stepjob.StepRunCommand:
		return steprun.Command(prog, rest, stdout, stderr)
	case cmd == stepjob.InstallCommand:
		return install(rest, stdout, stderr)
	case cmd == "help" || steprun.IsHelp(cmd):
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "%s: unknown command %q\n\n", prog, cmd)
		usage(stderr)
		return 2
	}
}

// install is `aias-step install-runner <destination>`.
func install(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && steprun.IsHelp(args[0]) {
		installUsage(stdout)
		return 0
	}
	if len(args) > 0 && args[0] == "--" { // a destination that starts with "-"
		args = args[1:]
	}
	if len(args) != 1 || args[0] == "" {
		fmt.Fprintf(stderr, "%s %s: want one destination, got %d arguments\n", prog, stepjob.InstallCommand, len(args))
		installUsage(stderr)
		return 2
	}
	if err := steprun.Install(args[0]); err != nil {
		fmt.Fprintf(stderr, "%s %s: %v\n", prog, stepjob.InstallCommand, err)
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `Usage: %s <command>

The AIAS step runtime, run inside step pods.

Commands:
  %-14s run a step command: %s %s -- <command> [args...]
  %-14s copy this binary to a path (the init container of every step pod)

Run '%s <command> --help' for more.
`, prog, stepjob.StepRunCommand, prog, stepjob.StepRunCommand, stepjob.InstallCommand, prog)
}

func installUsage(w io.Writer) {
	fmt.Fprintf(w, `Usage: %s %s <destination>

Copies this binary to <destination> (through a temporary file in its directory and a
rename, so a half-written copy is never there), executable by everyone. The init
container of every step pod runs it to put the step runtime into a shared emptyDir.
`, prog, stepjob.InstallCommand)
}
