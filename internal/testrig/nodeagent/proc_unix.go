//go:build unix

package nodeagent

import (
	"os"
	"syscall"
)

// credential switches the process to u; nil keeps the agent's own user.
func credential(u *user) *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: u.groups}
}

// canSwitchUser: only root can run a process as another user.
func canSwitchUser() bool { return os.Geteuid() == 0 }

func terminateGroup(_ *os.Process, pgid int) { _ = syscall.Kill(-pgid, syscall.SIGTERM) }

func killGroup(_ *os.Process, pgid int) { _ = syscall.Kill(-pgid, syscall.SIGKILL) }

// exitCode reports death by signal as 128+signal, as container runtimes (and shells) do.
func exitCode(ps *os.ProcessState) int {
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}
