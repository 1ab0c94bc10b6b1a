package sharedflags

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

// NewFlagSet is the flag set of an aias command: it returns its errors (ContinueOnError)
// and its usage reads "Usage: <synopsis>" and then the flags.
func NewFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n", synopsis)
		hasFlags := false
		fs.VisitAll(func(*flag.Flag) { hasFlags = true })
		if hasFlags {
			fmt.Fprintf(fs.Output(), "\nFlags:\n")
			fs.PrintDefaults()
		}
	}
	return fs
}

// Parse is fs.Parse as every aias command uses it: -h or --help writes fs.Usage to
// stdout and returns flag.ErrHelp, which the caller turns into exit 0; a mistake prints
// nothing and is returned for the caller to report on stderr. (The flag package alone
// writes the usage to stderr, after a mistake too.)
func Parse(fs *flag.FlagSet, args []string) error {
	usage := fs.Usage
	fs.Usage = func() {}
	fs.SetOutput(io.Discard)
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		fs.SetOutput(io.Discard)
	}
	return err
}
