package devkubelet

import "syscall"

// sysProcAttr puts the process in a group of its own, so that killing the group
// reaches whatever it starts, and has the kernel kill it if this process dies first
// (a killed test binary or `aias dev` must not leave steps running).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
