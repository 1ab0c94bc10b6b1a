package cli

import (
	"fmt"
	"io"

	"github.com/aias-dev/aias/internal/steprun"
)

// isHelp reports whether a is one of the spellings of the help flag the flag package
// accepts, for the commands that take no flags of their own.
func isHelp(a string) bool { return steprun.IsHelp(a) }

// mainUsage lists the commands, on stdout when asked for and on stderr after a mistake.
func mainUsage(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s <command> [flags]\n\nCommands:\n", progName())
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprintf(w, "\nRun '%s <command> --help' for a command's flags.\n", progName())
}
