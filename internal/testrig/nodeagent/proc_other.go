//go:build !unix

package nodeagent

import (
	"os"
	"syscall"
)

// Without Unix process groups and credentials only the process itself can be stopped
// and it runs as the agent's user; the node agent is meant for Linux and macOS, and
// this keeps the package building everywhere else.

func sysProcAttr(*user) *syscall.SysProcAttr { return nil }

func canSwitchUser() bool { return false }

func terminateGroup(p *os.Process, _ int) { _ = p.Kill() }

func killGroup(p *os.Process, _ int) { _ = p.Kill() }

func exitCode(ps *os.ProcessState) int { return ps.ExitCode() }
