package controllers

import (
	"context"
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// A step attempt is a Job (managed by this controller, see stepjob.ManagedBy) and the one
// Pod the controller makes from it. The attempt's life, and where a restart at any point
// picks it up:
//
//	create Job ─▶ create Pod ─▶ record Running ─▶ Pod ends ─▶ write Job status ─▶ record the end
//
// The Job and the Pod have deterministic names (the Pod has the Job's), so a repeated
// create finds the first. The Job's status is written before the Run's step status, so
// a finished Job is the record that the attempt ended, and an attempt whose Job the Run
// status does not know of yet is adopted (adoptUnrecordedJob).

// podRecreateWindow is how long after its Job's creation a missing Pod is taken for one
// that was never created (a manager that stopped between the two creates) and created;
// later, or once this process saw it, a missing Pod was deleted and the attempt fails.
// Creating it again then would run the attempt twice.
const podRecreateWindow = 30 * time.Second

// start creates attempt number attempt of step i: its Job, then its Pod.
func (p *stepPass) start(ctx context.Context, i int, attempt int32) error {
	r, run := p.r, p.run
	// A step reads the Run's input through the run index: index before any Pod runs.
	if err := r.index(ctx, run); err != nil {
		return err
	}
	if !p.tokenReady {
		if err := r.ensureTokenSecret(ctx, run); err != nil {
			return err
		}
		p.tokenReady = true
	}
	built, err := r.buildJob(run, p.spec, i, attempt)
	if err != nil {
		return err
	}
	job, err := r.createJob(ctx, run, built)
	if err != nil {
		r.event(run, corev1.EventTypeWarning, "JobCreateFailed", "Creating Job %s: %v", built.Name, err)
		return err
	}
	st := &run.Status.Steps[i]
	st.Phase, st.Attempts, st.JobName = aiasv1alpha1.StepRunning, attempt, job.Name
	st.NextAttemptTime, st.ExitCode, st.Message = nil, nil, ""
	if st.StartTime == nil {
		t := metav1.NewTime(p.now)
		st.StartTime = &t
	}
	r.event(run, corev1.EventTypeNormal, "StepStarted", "Step %s attempt %d started as Job %s", st.Name, attempt, job.Name)
	refused, err := r.refuseUnshared(ctx, run.Namespace, p.spec, i)
	if err == nil && refused == "" {
		refused, err = r.createPod(ctx, job)
	}
	if err != nil {
		r.event(run, corev1.EventTypeWarning, "PodCreateFailed", "Creating Pod %s: %v", job.Name, err)
		return err
	}
	if refused == "" {
		return nil
	}
	finished, err := r.endRefused(ctx, job, refused)
	if err != nil {
		return err
	}
	return r.observeJob(ctx, run, &p.spec.Steps[i], st, finished, nil)
}

// refuseUnshared is why step i may not run as declared: a Secret or ServiceAccount it
// reaches is not shared with Workflows (workflow_access.go); "" when it may.
func (r *RunReconciler) refuseUnshared(ctx context.Context, namespace string, spec *aiasv1alpha1.WorkflowSpec, i int) (string, error) {
	problems, err := accessRefusals(ctx, r.APIReader, namespace, spec, i)
	if err != nil || len(problems) == 0 {
		return "", err
	}
	return problemsMessage(problems), nil
}

// endRefused finishes the Job of an attempt whose Pod admission will never accept.
func (r *RunReconciler) endRefused(ctx context.Context, job *batchv1.Job, msg string) (*batchv1.Job, error) {
	now := metav1.NewTime(r.Now())
	finished := finishedJob(job, now, now, false, JobReasonPodRefused, "the step's Pod was refused: "+shortenNote(msg, maxEventNote))
	return finished, r.writeJobStatus(ctx, finished)
}

// observe follows a running attempt: its Pod ran and ended, its Job or Pod went missing,
// or it is still running.
func (p *stepPass) observe(ctx context.Context, step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus) (ctrl.Result, error) {
	r, run := p.r, p.run
	job := p.jobs.byAttempt[stepAttempt{step.Name, st.Attempts}]
	if job == nil {
		name := st.JobName // as recorded when the attempt started
		if name == "" {
			name = jobName(run.Name, step.Name, st.Attempts)
		}
		gone, err := r.absent(ctx, clientKey(run.Namespace, name), &batchv1.Job{})
		if err != nil || !gone {
			return ctrl.Result{RequeueAfter: time.Second}, err
		}
		r.attemptFailed(run, step, st, p.now, nil, "the step's Job was deleted before it finished")
		return p.afterAttempt(st), nil
	}
	var exitCode *int32
	if done, _, _ := jobResult(job); done {
		exitCode = r.cachedExitCode(ctx, job)
	} else {
		ended, code, res, err := r.followPod(ctx, job)
		if err != nil || ended == nil {
			return res, err
		}
		job, exitCode = ended, code
	}
	if err := r.observeJob(ctx, run, step, st, job, exitCode); err != nil {
		return ctrl.Result{}, err
	}
	r.children.forget(job.UID)
	return p.afterAttempt(st), nil
}

// afterAttempt makes the pass wake for a retry that is due later.
func (p *stepPass) afterAttempt(st *aiasv1alpha1.StepStatus) ctrl.Result {
	if st.Phase == aiasv1alpha1.StepRetrying && st.NextAttemptTime != nil {
		p.wakeAt(st.NextAttemptTime.Time)
	}
	return ctrl.Result{}
}

// followPod returns the attempt's Job finished once its Pod has ended (with the step
// container's exit code), or once the Pod was deleted or refused; nil while it runs or
// after it was created here because it was missing.
func (r *RunReconciler) followPod(ctx context.Context, job *batchv1.Job) (*batchv1.Job, *int32, ctrl.Result, error) {
	pod := &corev1.Pod{}
	err := r.Get(ctx, client.ObjectKeyFromObject(job), pod)
	switch {
	case err == nil && !metav1.IsControlledBy(pod, job):
		return nil, nil, ctrl.Result{}, fmt.Errorf("pod %s/%s is not Job %s's", pod.Namespace, pod.Name, job.Name)
	case err == nil:
		r.children.podSeen(job)
		if !podEnded(pod) {
			return nil, nil, ctrl.Result{}, nil // its end wakes us (the Pod watch)
		}
		finished := jobStatusFromPod(job, pod)
		return finished, stepExitCode(pod), ctrl.Result{}, r.writeJobStatus(ctx, finished)
	case !apierrors.IsNotFound(err):
		return nil, nil, ctrl.Result{}, err
	case r.children.podExpected(job):
		// Created here a moment ago; the informer has not delivered it yet.
		return nil, nil, ctrl.Result{RequeueAfter: expectWindow}, nil
	}
	gone, err := r.absent(ctx, client.ObjectKeyFromObject(job), pod)
	if err != nil || !gone {
		return nil, nil, ctrl.Result{RequeueAfter: time.Second}, err
	}
	if r.children.podNeverCreated(job) || !r.children.podKnown(job) && time.Since(job.CreationTimestamp.Time) < podRecreateWindow {
		// The Job is there and its Pod never was: its creates were refused so far (a
		// namespace whose ServiceAccount is not there yet), or the manager stopped
		// between the two creates.
		// The Pod is made from the Job as stored: the cache keeps no pod templates.
		stored := &batchv1.Job{}
		if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(job), stored); err != nil {
			return nil, nil, ctrl.Result{}, err
		}
		refused, err := r.createPod(ctx, stored)
		if err != nil || refused == "" {
			return nil, nil, ctrl.Result{}, err
		}
		finished, err := r.endRefused(ctx, job, refused)
		return finished, nil, ctrl.Result{}, err
	}
	finished := finishedJob(job, job.CreationTimestamp, metav1.NewTime(r.Now()), false, JobReasonPodDeleted,
		"the step's Pod was deleted before it finished")
	return finished, nil, ctrl.Result{}, r.writeJobStatus(ctx, finished)
}

// cachedExitCode is the step container's exit code from the cached Pod of a finished
// Job, when the cache has it.
func (r *RunReconciler) cachedExitCode(ctx context.Context, job *batchv1.Job) *int32 {
	pod := &corev1.Pod{}
	if err := r.Get(ctx, client.ObjectKeyFromObject(job), pod); err != nil || !podEnded(pod) {
		return nil
	}
	return stepExitCode(pod)
}

// absent tells an object that does not exist from one the cache has not caught up with.
func (r *RunReconciler) absent(ctx context.Context, key client.ObjectKey, obj client.Object) (bool, error) {
	err := r.APIReader.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		return true, nil
	}
	return false, err
}

// writeJobStatus writes a step Job's terminal status. The write is guarded by the
// resourceVersion the Job was read at, so two reconciles cannot both finish it.
func (r *RunReconciler) writeJobStatus(ctx context.Context, finished *batchv1.Job) error {
	if err := r.Status().Update(ctx, finished); err != nil {
		return fmt.Errorf("writing the status of Job %s: %w", finished.Name, err)
	}
	r.children.jobFinished(finished)
	return nil
}
