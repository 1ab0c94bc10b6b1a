package nodeagent

import (
	"context"
	"os"
	"os/exec"
	"time"
)

// procSpec is one container's process as it runs on this machine.
type procSpec struct {
	path           string   // the file to execute
	args           []string // argv, args[0] included
	env            []string
	dir            string // working directory
	stdout, stderr string // files the output goes to
	user           *user  // nil: the agent's own user
}

// user is the identity a process runs as when the agent is root.
type user struct {
	uid, gid uint32
	groups   []uint32
}

// process is a started container process, the leader of a process group of its own.
type process struct {
	cmd     *exec.Cmd
	pgid    int
	started time.Time
	ended   time.Time     // set before exited is closed
	exited  chan struct{} // closed once it is reaped and the rest of its group killed
}

// startProcess starts spec in a process group of its own. The calling goroutine must
// hold its OS thread (runtime.LockOSThread) until the process has exited: Linux sends
// the parent-death signal (see sysProcAttr) when the thread that started the child
// exits, not the process, and the Go runtime may otherwise retire that thread under a
// running child.
func startProcess(spec procSpec) (*process, error) {
	stdout, err := os.OpenFile(spec.stdout, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer stdout.Close() // the child has its own copy once started
	stderr, err := os.OpenFile(spec.stderr, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer stderr.Close()

	cmd := &exec.Cmd{
		Path:        spec.path,
		Args:        spec.args,
		Env:         spec.env,
		Dir:         spec.dir,
		Stdout:      stdout, // an *os.File: the child writes to it directly, no copying goroutine
		Stderr:      stderr,
		SysProcAttr: sysProcAttr(spec.user),
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &process{cmd: cmd, pgid: cmd.Process.Pid, started: time.Now(), exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		p.ended = time.Now()
		// A group outlives its leader when the leader leaves children behind: a
		// container's end takes everything in it along. The group ID stays reserved
		// while any member lives, so this reaches only them.
		killGroup(cmd.Process, p.pgid)
		close(p.exited)
	}()
	return p, nil
}

// exitCode is how the process ended, 128+signal for a death by signal; valid once
// exited is closed.
func (p *process) exitCode() int { return exitCode(p.cmd.ProcessState) }

// kill sends SIGKILL to the process's group, unless it has exited already.
func (p *process) kill() {
	select {
	case <-p.exited:
	default:
		killGroup(p.cmd.Process, p.pgid)
	}
}

// waitAll waits until every process has exited. When ctx ends first, every group gets
// SIGTERM and, after grace() (read at that moment), SIGKILL; stopped reports that.
func waitAll(ctx context.Context, procs []*process, grace func() time.Duration) (stopped bool) {
	all := make(chan struct{})
	go func() {
		for _, p := range procs {
			<-p.exited
		}
		close(all)
	}()
	select {
	case <-all:
		return false
	case <-ctx.Done():
	}
	select {
	case <-all: // they ended by themselves as ctx ended
		return false
	default:
	}
	for _, p := range procs {
		select {
		case <-p.exited:
		default:
			terminateGroup(p.cmd.Process, p.pgid)
		}
	}
	timer := time.NewTimer(grace())
	defer timer.Stop()
	select {
	case <-all:
	case <-timer.C:
		for _, p := range procs {
			p.kill()
		}
		<-all
	}
	return true
}
