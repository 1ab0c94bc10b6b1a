package cli

import (
	"github.com/aias-dev/aias/internal/steprun"
)

// installRunner copies this binary to a path, as the init container of every step pod
// does with the step runtime (`aias-step install-runner`, the same steprun.Install).
func installRunner(args []string) error {
	pos, err := parseArgs(newFlags("install-runner", "install-runner <destination>"), args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<destination>"); err != nil {
		return err
	}
	return steprun.Install(pos[0])
}
