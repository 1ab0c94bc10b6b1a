//go:build unix

package devkubelet

import (
	"os"
	"syscall"
)

func terminateGroup(_ *os.Process, pgid int) { _ = syscall.Kill(-pgid, syscall.SIGTERM) }

func killGroup(_ *os.Process, pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// exitCode reports death by signal as 128+signal, as container runtimes (and shells) do.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
