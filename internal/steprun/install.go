package steprun

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Install copies the running executable to dst: the init container of every step Pod
// runs `aias-step install-runner <dst>` so the step image, whatever it is, can execute
// step-run from a shared emptyDir. The copy lands under a temporary name in dst's
// directory and is renamed, so a half-written binary is never executable under dst.
func Install(dst string) error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	return CopyFile(self, dst, 0o755)
}

// CopyFile copies src to dst with mode, through a temporary file in dst's directory
// renamed into place: dst is never seen half written, and a process running an earlier
// copy keeps it. The step runtime's install, its CSI driver (internal/stepcsi) and the
// node agent's image binaries all copy this way.
func CopyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".aias-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		return fmt.Errorf("copying %s: %w", src, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}
