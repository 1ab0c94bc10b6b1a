package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/aias-dev/aias/internal/apiclient"
	"github.com/aias-dev/aias/internal/sharedflags"
)

// The user-facing commands (runs, get, logs, artifacts, replay, resume, cancel, approve, reject,
// whoami, …) talk to the user API and report errors the way kubectl does, so they share
// this plumbing.

// progName is how the user called us, for messages: "kubectl aias" when the binary runs
// as the kubectl plugin kubectl-aias (kubectl passes the words after "aias" unchanged).
func progName() string {
	if strings.HasPrefix(filepath.Base(os.Args[0]), "kubectl-") {
		return "kubectl aias"
	}
	return "aias"
}

// usageError is a mistake in the command line; it exits 2 with a pointer to --help.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// userCommand adapts a user command: Ctrl-C cancels its context, API refusals print as
// "Error from server (Reason): message", anything else as "error: ...".
func userCommand(name string, run func(ctx context.Context, args []string) error) func([]string) int {
	return func(args []string) int {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err := run(ctx, args)
		var ae *apiclient.APIError
		var ue usageError
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		case errors.As(err, &ae):
			fmt.Fprintln(os.Stderr, ae.Error())
		case errors.As(err, &ue):
			fmt.Fprintf(os.Stderr, "error: %v\nSee '%s %s --help' for usage.\n", ue.msg, progName(), name)
			return 2
		case errors.Is(err, context.Canceled) && ctx.Err() != nil:
			return 130 // interrupted: the shell's convention for SIGINT
		default:
			fmt.Fprintf(os.Stderr, "error: %v\n", err)
		}
		return 1
	}
}

// newFlags is a flag set whose errors and help the caller prints (see parseArgs).
func newFlags(name, synopsis string) *flag.FlagSet {
	return sharedflags.NewFlagSet(name, progName()+" "+synopsis)
}

// parseArgs parses flags wherever they appear among the arguments, as kubectl allows
// (`aias logs my-run -f -n acme`), and returns the positional arguments in order.
// Everything after "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var rest []string
	for i, a := range args {
		if a == "--" {
			args, rest = args[:i], args[i+1:]
			break
		}
	}
	var positional []string
	for {
		if err := sharedflags.Parse(fs, args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err // the help went to stdout
			}
			return nil, usageError{err.Error()}
		}
		args = fs.Args()
		if len(args) == 0 {
			return append(positional, rest...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

// exactArgs checks the number of positional arguments.
func exactArgs(got []string, want ...string) error {
	if len(got) == len(want) {
		return nil
	}
	if len(got) < len(want) {
		return usageErrorf("missing %s", strings.Join(want[len(got):], " "))
	}
	return usageErrorf("unexpected arguments: %s", strings.Join(got[len(want):], " "))
}
