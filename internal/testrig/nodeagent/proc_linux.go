package nodeagent

import "syscall"

// sysProcAttr puts the process in a group of its own, so that killing the group
// reaches whatever it starts, running as u when set, and has the kernel kill it if this
// process dies first (a killed test binary or `aias dev` must not leave containers
// running). Go sets the parent-death signal after switching credentials, which would
// otherwise clear it.
func sysProcAttr(u *user) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: credential(u)}
}
