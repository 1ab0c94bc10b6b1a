package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// installRunner copies this binary to dst. The init container of every step pod runs it
// so the step image, whatever it is, can execute `aias step-run` from a shared emptyDir.
// The copy lands under a temporary name and is renamed, so a half-written binary is
// never executable under dst.
func installRunner(args []string) error {
	pos, err := parseArgs(newFlags("install-runner", "install-runner <destination>"), args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<destination>"); err != nil {
		return err
	}
	dst := pos[0]
	self, err := os.Executable()
	if err != nil {
		return err
	}
	in, err := os.Open(self)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".aias-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copying %s: %w", self, err)
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
