//go:build !unix

package devkubelet

import (
	"os"
	"syscall"
)

// Without Unix process groups only the process itself can be stopped; the dev kubelet
// is meant for Linux and macOS, and this keeps the package building everywhere else.

func sysProcAttr() *syscall.SysProcAttr { return nil }

func terminateGroup(p *os.Process, _ int) { _ = p.Kill() }

func killGroup(p *os.Process, _ int) { _ = p.Kill() }

func exitCode(ps *os.ProcessState) int { return ps.ExitCode() }
