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
	"runtime/debug"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steprun"
)

const prog = "aias-step"

// memoryLimit is the step runtime's soft memory limit. What step-run holds is bounded by
// design (its log queue, at most 4 MiB of lines; one log batch's body, at most 2 MiB;
// fixed read and HTTP buffers), so the limit only keeps garbage from piling up above
// that, at little cost in GC work: with 64 KiB lines, which fill those bounds fastest,
// step-run's peak RSS went from about 23 to 19 MiB (14 MiB with the bench's short
// lines either way), and a step limited to 64 MiB keeps the rest for its command.
const memoryLimit = 16 << 20

func main() {
	// The container's environment is the step command's: GOGC or GOMEMLIMIT there are
	// meant for it (a Go command, say), not for step-run, which sets its own.
	debug.SetGCPercent(100)
	debug.SetMemoryLimit(memoryLimit)
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
