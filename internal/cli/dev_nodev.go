//go:build nodev

package cli

import "errors"

// runDev is left out of the image's binary (built with -tags nodev, see the Dockerfile):
// `aias dev` links controller-runtime's envtest, whose package init writes a port cache
// under $HOME/.cache or /tmp and panics on a read-only root filesystem, as every AIAS pod
// has. The image has no use for a local control plane anyway.
func runDev([]string) error {
	return errors.New("`aias dev` is not in this build (the container image's); run `make dev` from a checkout")
}
