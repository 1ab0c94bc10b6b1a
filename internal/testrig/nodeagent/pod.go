package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
)

// pod is one Pod running here: its init containers one after another, then all its
// containers at once.
type pod struct {
	uid    types.UID
	key    string // namespace/name
	plan   *podPlan
	ctx    context.Context // ends, with a cause, when the pod must stop early
	cancel context.CancelCauseFunc
	grace  atomic.Int64 // SIGTERM to SIGKILL when stopped, in nanoseconds

	mu              sync.Mutex
	procs           []*process // running now, for Kill
	deadline        *time.Timer
	deadlineSeconds *int64

	// Owned by the pod's goroutine.
	state   podState
	last    *corev1.Pod // the Pod as last written: the base of the next status write
	stopped bool        // ctx ended before the processes did, and they were stopped
	failure string      // the agent could not run the pod (ReasonAgentError)
	// lastWaiting is the last container problem written to the status (prepare).
	lastWaiting string
}

// podState is what the Pod's status is made of.
type podState struct {
	start      time.Time // stands in for the sandbox's creation: status.startTime
	init, main []ctrState
}

// ctrState is one container's life so far.
type ctrState struct {
	waiting, waitingMessage string    // why it has not started (when it has not)
	started, finished       time.Time // zero until then
	exitCode                int32
	reason, message         string // of the terminated state
	containerID             string
}

func (s *ctrState) running() bool    { return !s.started.IsZero() && s.finished.IsZero() }
func (s *ctrState) terminated() bool { return !s.finished.IsZero() }
func (s *ctrState) succeeded() bool  { return s.terminated() && s.exitCode == 0 }

// ended records the end of a process, with the reasons container runtimes give.
func (s *ctrState) ended(code int, at time.Time) {
	s.finished, s.exitCode, s.reason = at, int32(code), "Completed"
	if code != 0 {
		s.reason = "Error"
	}
}

// startFailed records a process that could not start, as a runtime's StartError.
func (s *ctrState) startFailed(err error) {
	s.finished, s.exitCode, s.reason, s.message = time.Now(), 128, "StartError", err.Error()
}

func newPod(base context.Context, plan *podPlan, grace time.Duration) *pod {
	ctx, cancel := context.WithCancelCause(base)
	p := &pod{
		uid:    plan.pod.UID,
		key:    plan.pod.Namespace + "/" + plan.pod.Name,
		plan:   plan,
		ctx:    ctx,
		cancel: cancel,
		last:   plan.pod,
		state: podState{
			start: time.Now(),
			init:  make([]ctrState, len(plan.init)),
			main:  make([]ctrState, len(plan.main)),
		},
	}
	p.grace.Store(math.MaxInt64)
	for i := range p.state.init {
		p.state.init[i].waiting = "PodInitializing"
	}
	for i := range p.state.main {
		p.state.main[i].waiting = "PodInitializing"
	}
	p.setDeadline(plan.pod.Spec.ActiveDeadlineSeconds, grace)
	return p
}

// stop ends the pod for cause; its goroutine stops the processes with the shortest
// grace period asked for.
func (p *pod) stop(cause error, grace time.Duration) {
	for {
		old := p.grace.Load()
		if int64(grace) >= old || p.grace.CompareAndSwap(old, int64(grace)) {
			break
		}
	}
	p.cancel(cause)
}

func (p *pod) gracePeriod() time.Duration { return time.Duration(p.grace.Load()) }

// setDeadline (re)arms activeDeadlineSeconds, counted from the pod's start; the
// field may be set or shortened while the Pod runs.
func (p *pod) setDeadline(seconds *int64, grace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if seconds == p.deadlineSeconds || (seconds != nil && p.deadlineSeconds != nil && *seconds == *p.deadlineSeconds) {
		return
	}
	if p.deadline != nil {
		p.deadline.Stop()
		p.deadline = nil
	}
	p.deadlineSeconds = seconds
	if seconds != nil {
		at := p.state.start.Add(time.Duration(*seconds) * time.Second)
		p.deadline = time.AfterFunc(time.Until(at), func() { p.stop(errDeadline, grace) })
	}
}

// kill sends SIGKILL to the running processes; false when there are none.
func (p *pod) kill() bool {
	p.mu.Lock()
	procs := slices.Clone(p.procs)
	p.mu.Unlock()
	for _, proc := range procs {
		proc.kill()
	}
	return len(procs) > 0
}

// statusTimeout bounds the final status write and deletion: the apiserver answering
// slowly or not at all must not keep a finished pod's goroutine forever.
const statusTimeout = 15 * time.Second

// runPod runs the pod, records how it ended and forgets it.
func (a *Agent) runPod(p *pod) {
	defer a.wg.Done()
	// Every process of the pod starts on this goroutine's thread, which it holds until
	// they are all reaped (see startProcess).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	defer p.cancel(nil)
	defer func() {
		p.mu.Lock()
		if p.deadline != nil {
			p.deadline.Stop()
		}
		p.mu.Unlock()
	}()
	a.runContainers(p)
	a.finish(p)
}

// runContainers runs the init containers in order, then all containers concurrently,
// as a Pod with restartPolicy Never does: the first failing init container ends the
// pod.
func (a *Agent) runContainers(p *pod) {
	if err := a.prepareDirs(p.plan); err != nil {
		p.failure = fmt.Sprintf("the node agent could not prepare the pod directory: %v", err)
		return
	}
	for i := range p.plan.init {
		c, s := &p.plan.init[i], &p.state.init[i]
		spec, ok := a.prepare(p, c, s)
		if !ok {
			return
		}
		proc := a.launch(p, s, spec)
		if proc == nil {
			return
		}
		a.await(p, []*process{proc}, []*ctrState{s})
		if p.stopped || !s.succeeded() {
			return
		}
	}
	specs := make([]procSpec, len(p.plan.main))
	ok := make([]bool, len(p.plan.main))
	for i := range p.plan.main {
		p.state.main[i].waiting = "ContainerCreating"
	}
	for i := range p.plan.main {
		if specs[i], ok[i] = a.prepare(p, &p.plan.main[i], &p.state.main[i]); p.stopped {
			return
		}
	}
	var procs []*process
	var states []*ctrState
	for i := range p.plan.main {
		if !ok[i] {
			continue
		}
		if proc := a.launch(p, &p.state.main[i], specs[i]); proc != nil {
			procs, states = append(procs, proc), append(states, &p.state.main[i])
		}
	}
	if len(procs) == 0 {
		return
	}
	a.writeRunning(p)
	a.await(p, procs, states)
}

// prepare resolves a container's env and command at the moment it is due to start, as
// the kubelet does. A Secret or ConfigMap it needs that is missing is retried every
// second, the container waiting in CreateContainerConfigError, until the pod stops (a
// real Pod waits the same way, until its deadline or deletion). ok is false when the
// pod stopped or the command could not be resolved (recorded as a start error).
func (a *Agent) prepare(p *pod, c *containerPlan, s *ctrState) (procSpec, bool) {
	for {
		env, err := a.containerEnv(p.ctx, p.plan, c)
		if err == nil {
			spec, err := a.processSpec(p.plan, c, env)
			if err != nil {
				s.startFailed(err)
				return spec, false
			}
			return spec, true
		}
		if p.ctx.Err() != nil {
			p.stopped = true
			return procSpec{}, false
		}
		problem := err.Error()
		s.waiting, s.waitingMessage = "CreateContainerConfigError", problem
		if problem != p.lastWaiting { // once per distinct problem, not once a second
			p.lastWaiting = problem
			a.Log.Info("waiting for the container's env", "pod", p.key, "container", c.Name, "problem", problem)
			// As the kubelet, the Pod's status shows it: a controller waiting on the Pod
			// learns why it does not start.
			a.writeStatus(p, corev1.PodPending)
		}
		select {
		case <-p.ctx.Done():
			p.stopped = true
			return procSpec{}, false
		case <-time.After(time.Second):
		}
	}
}

// launch starts a container's process; nil when it could not start (recorded).
func (a *Agent) launch(p *pod, s *ctrState, spec procSpec) *process {
	proc, err := startProcess(spec)
	if err != nil {
		s.startFailed(err)
		return nil
	}
	s.started, s.waiting, s.waitingMessage = proc.started, "", ""
	s.containerID = fmt.Sprintf("nodeagent://%d", proc.pgid)
	p.mu.Lock()
	p.procs = append(p.procs, proc)
	p.mu.Unlock()
	return proc
}

// await waits for the processes (stopping them when the pod must stop) and records how
// each ended.
func (a *Agent) await(p *pod, procs []*process, states []*ctrState) {
	if waitAll(p.ctx, procs, p.gracePeriod) {
		p.stopped = true
	}
	for i, proc := range procs {
		states[i].ended(proc.exitCode(), proc.ended)
	}
	p.mu.Lock()
	p.procs = nil
	p.mu.Unlock()
}

// writeRunning makes the status write of a Pod whose containers have started.
func (a *Agent) writeRunning(p *pod) { a.writeStatus(p, corev1.PodRunning) }

// writeStatus writes the status of a pod that has not ended: phase, and each
// container's state (waiting, running).
func (a *Agent) writeStatus(p *pod, phase corev1.PodPhase) {
	status := a.buildStatus(p.last, &p.state, phase, "", "")
	got, err := a.patchStatus(p.ctx, p.last, status)
	switch {
	case err == nil:
		p.last = got
	case !errors.Is(err, errPodGone) && p.ctx.Err() == nil:
		a.Log.Error(err, "writing the running pod's status", "pod", p.key)
	}
}

// finish records how the pod ended: a status write unless it was stopped for a
// reason that leaves nothing to record (or no one to record it), then the pod
// directory's removal. It then looks at the Pod again, which deletes it when its
// deletion was asked for.
func (a *Agent) finish(p *pod) {
	cause := context.Cause(p.ctx)
	phase, reason, message := corev1.PodFailed, "", ""
	write := true
	switch {
	case p.failure != "":
		reason, message = ReasonAgentError, p.failure
	case !p.stopped:
		if p.state.succeeded() {
			phase = corev1.PodSucceeded
		} else if a.KeepFailed {
			message = fmt.Sprintf("%s; logs in %s", p.state.failure(p.plan), filepath.Join(p.plan.dir, "logs"))
		}
	case errors.Is(cause, errDeleted):
		// As the kubelet, record how the stopped containers ended before the Pod goes:
		// a controller holding a finalizer on it may want to know.
		if p.state.succeeded() {
			phase = corev1.PodSucceeded
		}
	case errors.Is(cause, errDeadline):
		reason, message = ReasonDeadlineExceeded, MessageDeadlineExceeded
	default:
		// Gone, replaced, made terminal by someone else, or the agent is stopping.
		write = false
		a.Log.Info("pod stopped", "pod", p.key, "cause", cause.Error())
	}
	if write {
		ctx, cancel := context.WithTimeout(context.Background(), statusTimeout)
		_, err := a.patchStatus(ctx, p.last, a.buildStatus(p.last, &p.state, phase, reason, message))
		cancel()
		if err != nil && !errors.Is(err, errPodGone) {
			a.Log.Error(err, "writing the final pod status", "pod", p.key)
		}
		a.Log.Info("pod ended", "pod", p.key, "phase", phase, "reason", reason, "message", message)
	}
	if keep := write && phase == corev1.PodFailed && a.KeepFailed && !errors.Is(cause, errDeleted); !keep {
		if err := os.RemoveAll(p.plan.dir); err != nil {
			a.Log.Error(err, "removing the pod directory", "pod", p.key, "dir", p.plan.dir)
		}
	}
	a.forget(p, write)
	if a.queue != nil {
		a.queue.Add(p.key)
	}
}

// succeeded: every container ran and exited 0.
func (st *podState) succeeded() bool {
	for _, s := range slices.Concat(st.init, st.main) {
		if !s.succeeded() {
			return false
		}
	}
	return true
}

// failure names the first container that did not succeed and how, for messages.
func (st *podState) failure(plan *podPlan) string {
	for i, s := range st.init {
		if !s.succeeded() {
			return describe(&plan.init[i], &s)
		}
	}
	for i, s := range st.main {
		if !s.succeeded() {
			return describe(&plan.main[i], &s)
		}
	}
	return "the pod failed"
}

func describe(c *containerPlan, s *ctrState) string {
	switch {
	case s.reason == "StartError":
		return fmt.Sprintf("%s could not start: %s", c.kind(), s.message)
	case s.terminated():
		return fmt.Sprintf("%s exited with code %d", c.kind(), s.exitCode)
	}
	return fmt.Sprintf("%s did not run", c.kind())
}

// prepareDirs creates the pod directory: a directory per volume (with subPath
// directories, created on demand as the kubelet does), one for logs, and a working
// directory per container standing in for its image's filesystem. Volumes and working
// directories are writable by anyone, as emptyDir volumes are in Kubernetes, so that a
// process run as another user can use them. What an earlier run of the Pod left (an
// agent stopped while it was initializing) goes first: volumes start empty.
func (a *Agent) prepareDirs(p *podPlan) error {
	if err := os.RemoveAll(p.dir); err != nil {
		return err
	}
	if err := mkdirMode(p.dir, 0o755); err != nil {
		return err
	}
	if err := mkdirMode(filepath.Join(p.dir, "logs"), 0o700); err != nil {
		return err
	}
	var dirs []string
	for _, dir := range p.volumes {
		dirs = append(dirs, dir)
	}
	for _, c := range slices.Concat(p.init, p.main) {
		dirs = append(dirs, p.rootfs(&c))
		for _, m := range c.mounts {
			dirs = append(dirs, m.local)
		}
	}
	for _, dir := range []string{filepath.Join(p.dir, "volumes"), filepath.Join(p.dir, "rootfs")} {
		if err := mkdirMode(dir, 0o755); err != nil {
			return err
		}
	}
	for _, dir := range dirs {
		if err := mkdirMode(dir, 0o777); err != nil {
			return err
		}
	}
	return nil
}
