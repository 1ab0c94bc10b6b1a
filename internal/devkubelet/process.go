package devkubelet

import (
	"context"
	"os"
	"os/exec"
	"runtime"
	"time"
)

// procSpec is one container's process as it runs on this machine.
type procSpec struct {
	path           string   // the file to execute
	args           []string // argv, args[0] included
	env            []string
	dir            string // working directory
	stdout, stderr string // files the output goes to
}

// procResult is how a process ended.
type procResult struct {
	exitCode int   // the exit status, or 128+signal as container runtimes report it
	startErr error // the process never ran (like a container's StartError)
	killed   bool  // ctx ended first and the process group was killed
}

// runProcess runs spec in a process group of its own and waits for it. When ctx ends
// first, the group gets SIGTERM and, after grace, SIGKILL. When the leader exits, the
// rest of the group is killed too: a container's end takes everything in it along,
// and `aias dev` must leave no strays behind.
func runProcess(ctx context.Context, spec procSpec, grace time.Duration) procResult {
	stdout, err := os.OpenFile(spec.stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return procResult{startErr: err}
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(spec.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return procResult{startErr: err}
	}
	defer stderr.Close()

	cmd := &exec.Cmd{
		Path:        spec.path,
		Args:        spec.args,
		Env:         spec.env,
		Dir:         spec.dir,
		Stdout:      stdout, // an *os.File: the child writes to it directly, no copying goroutine
		Stderr:      stderr,
		SysProcAttr: sysProcAttr(),
	}
	// Linux sends the parent-death signal (see sysProcAttr) when the thread that started
	// the child exits, not the process: holding this goroutine's thread until the child
	// is reaped keeps the Go runtime from retiring that thread under a running child.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := cmd.Start(); err != nil {
		return procResult{startErr: err}
	}
	pgid := cmd.Process.Pid // Setpgid makes the child the leader of a group with its PID
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()

	killed := false
	select {
	case <-exited:
	case <-ctx.Done():
		killed = true
		terminateGroup(cmd.Process, pgid)
		select {
		case <-exited:
		case <-time.After(grace):
		}
	}
	// A group outlives its leader when the leader leaves children behind. The group ID
	// stays reserved while any member lives, so this reaches only them.
	killGroup(cmd.Process, pgid)
	<-exited
	return procResult{exitCode: exitCode(cmd.ProcessState), killed: killed}
}
