//go:build !linux

package testenv

import "syscall"

func componentSysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }
