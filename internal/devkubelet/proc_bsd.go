//go:build unix && !linux

package devkubelet

import "syscall"

// sysProcAttr puts the process in a group of its own, so that killing the group
// reaches whatever it starts. (Only Linux can also tie it to this process's life.)
func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
