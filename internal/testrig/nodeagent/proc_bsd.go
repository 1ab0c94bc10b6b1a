//go:build unix && !linux

package nodeagent

import "syscall"

// sysProcAttr puts the process in a group of its own, so that killing the group
// reaches whatever it starts, running as u when set. (Only Linux can also tie it to
// this process's life.)
func sysProcAttr(u *user) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Credential: credential(u)}
}
