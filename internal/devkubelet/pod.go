package devkubelet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	"k8s.io/apimachinery/pkg/types"
)

// pod is one run of a Job's pod template: its processes, one after another for the
// init containers, then all containers at once.
type pod struct {
	uid    types.UID
	key    types.NamespacedName
	job    *batchv1.Job // as it was when started: names the Job in status writes
	plan   *podPlan
	ctx    context.Context // ends, with a cause, when the pod must stop early
	cancel context.CancelCauseFunc
}

func newPod(base context.Context, job *batchv1.Job, plan *podPlan) *pod {
	ctx, cancel := context.WithCancelCause(base)
	return &pod{
		uid:    job.UID,
		key:    types.NamespacedName{Namespace: job.Namespace, Name: job.Name},
		job:    job.DeepCopy(),
		plan:   plan,
		ctx:    ctx,
		cancel: cancel,
	}
}

// outcome is how a pod that ran to its end ended.
type outcome struct {
	ok      bool
	message string // for a failure: which container and how
}

// statusTimeout bounds the final status write; the apiserver answering slowly must
// not keep a finished pod's goroutine forever.
const statusTimeout = 30 * time.Second

// runPod runs the pod, records how it ended, removes its directory and forgets it.
// A zero deadline means none.
func (k *Kubelet) runPod(p *pod, deadline time.Time) {
	defer k.wg.Done()
	defer p.cancel(nil)
	ctx := p.ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadlineCause(p.ctx, deadline, errDeadline)
		defer cancel()
	}

	out, stopped := k.runContainers(ctx, p)
	cause := context.Cause(ctx)

	wctx, cancel := context.WithTimeout(k.base, statusTimeout)
	defer cancel()
	failed := false
	var err error
	switch {
	case stopped && errors.Is(cause, errDeadline):
		failed = true
		k.Log.Info("job deadline exceeded", "job", p.key)
		err = k.writeFailed(wctx, p.job, batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline")
	case stopped:
		// Deleted, suspended, finished by someone else, or the dev kubelet is
		// stopping: there is nothing to record, or no one to record it.
		k.Log.Info("job stopped", "job", p.key, "cause", cause.Error())
	case out.ok:
		k.Log.Info("job succeeded", "job", p.key)
		err = k.writeComplete(wctx, p.job)
	default:
		failed = true
		msg := out.message
		if k.KeepFailed {
			msg += fmt.Sprintf(" (logs in %s)", filepath.Join(p.plan.dir, "logs"))
		}
		k.Log.Info("job failed", "job", p.key, "message", msg)
		err = k.writeFailed(wctx, p.job, batchv1.JobReasonBackoffLimitExceeded, msg)
	}
	if err != nil {
		// A later dev kubelet will find the Job started and unfinished and fail it.
		k.Log.Error(err, "writing the job status", "job", p.key)
	}
	if !failed || !k.KeepFailed {
		if err := os.RemoveAll(p.plan.dir); err != nil {
			k.Log.Error(err, "removing the pod directory", "job", p.key, "dir", p.plan.dir)
		}
	}
	k.forget(p, stopped && errors.Is(cause, errSuspended))
}

// runContainers runs the init containers in order, then all containers concurrently,
// as a pod with restartPolicy Never does: the first failing init container ends the
// pod, and the pod fails if any container fails. stopped means ctx ended first and the
// processes were killed.
func (k *Kubelet) runContainers(ctx context.Context, p *pod) (out outcome, stopped bool) {
	if err := k.prepareDirs(p.plan); err != nil {
		return outcome{message: fmt.Sprintf("the dev kubelet could not prepare the pod directory: %v", err)}, false
	}
	for i := range p.plan.init {
		if out, stopped := k.runContainer(ctx, p, &p.plan.init[i]); stopped || !out.ok {
			return out, stopped
		}
	}
	outs := make([]outcome, len(p.plan.main))
	stops := make([]bool, len(p.plan.main))
	var wg sync.WaitGroup
	for i := range p.plan.main {
		wg.Go(func() { outs[i], stops[i] = k.runContainer(ctx, p, &p.plan.main[i]) })
	}
	wg.Wait()
	for i := range outs {
		if stops[i] {
			return outcome{}, true
		}
	}
	for _, out := range outs {
		if !out.ok {
			return out, false
		}
	}
	return outcome{ok: true}, false
}

// runContainer resolves a container's env and command at the moment it starts, as the
// kubelet does, then runs it.
func (k *Kubelet) runContainer(ctx context.Context, p *pod, c *containerPlan) (outcome, bool) {
	env, ok := k.waitForEnv(ctx, p, c)
	if !ok {
		return outcome{}, true
	}
	spec, err := k.processSpec(p.plan, c, env)
	if err != nil {
		return outcome{message: fmt.Sprintf("%s could not start: %v", c.kind(), err)}, false
	}
	res := runProcess(ctx, spec, k.GracePeriod)
	switch {
	case res.killed:
		return outcome{}, true
	case res.startErr != nil:
		return outcome{message: fmt.Sprintf("%s could not start: %v", c.kind(), res.startErr)}, false
	case res.exitCode != 0:
		return outcome{message: fmt.Sprintf("%s exited with code %d", c.kind(), res.exitCode)}, false
	}
	return outcome{ok: true}, false
}

// waitForEnv resolves the container's env, retrying every second while a Secret or
// ConfigMap it needs is missing, until ctx ends (ok false): a real pod waits in
// CreateContainerConfigError the same way, until its deadline or deletion.
func (k *Kubelet) waitForEnv(ctx context.Context, p *pod, c *containerPlan) (map[string]string, bool) {
	var last string
	for {
		env, err := k.containerEnv(ctx, p.plan, c)
		if err == nil {
			return env, true
		}
		if ctx.Err() != nil {
			return nil, false
		}
		if err.Error() != last { // once per distinct problem, not once a second
			last = err.Error()
			k.Log.Info("waiting for the container's env", "job", p.key, "container", c.Name, "problem", last)
		}
		select {
		case <-ctx.Done():
			return nil, false
		case <-time.After(time.Second):
		}
	}
}

// prepareDirs creates the pod directory: a directory per volume (with subPath
// directories, created on demand as the kubelet does), one for logs, and a working
// directory per container standing in for its image's filesystem.
func (k *Kubelet) prepareDirs(p *podPlan) error {
	dirs := []string{filepath.Join(p.dir, "logs")}
	for _, dir := range p.volumes {
		dirs = append(dirs, dir)
	}
	for _, cs := range [][]containerPlan{p.init, p.main} {
		for _, c := range cs {
			dirs = append(dirs, filepath.Join(p.dir, "rootfs", c.Name))
			for _, m := range c.mounts {
				dirs = append(dirs, m.local)
			}
		}
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return err
	}
	for _, dir := range dirs {
		// emptyDir volumes are world-writable in Kubernetes too.
		if err := os.MkdirAll(dir, 0o777); err != nil {
			return err
		}
	}
	return nil
}
