//go:build nodev

package cli

import (
	"errors"
	"flag"
	"fmt"
)

// runDev is left out of the image's binary (built with -tags nodev, see the Dockerfile):
// `aias dev` links controller-runtime's envtest, whose package init writes a port cache
// under $HOME/.cache or /tmp and panics on a read-only root filesystem, as every AIAS pod
// has. The image has no use for a local control plane anyway.
func runDev(args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Println("Usage: aias dev\n\n`aias dev` is not in this build (the container image's); run `make dev` from a checkout.")
		return flag.ErrHelp
	}
	return errors.New("`aias dev` is not in this build (the container image's); run `make dev` from a checkout")
}
