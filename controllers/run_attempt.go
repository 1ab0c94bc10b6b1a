package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
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
// status does not know of yet is adopted (observeAttempts, runengine).

// podRecreateWindow is how long after its Job's creation a missing Pod is taken for one
// that was never created (a manager that stopped between the two creates) and created;
// later, or once this process saw it, a missing Pod was deleted and the attempt fails.
// Creating it again then would run the attempt twice.
const podRecreateWindow = 30 * time.Second

// startAttempt creates the attempt the engine asked for: its Job, then its Pod, and
// records the Job's name in the step's status (which the engine marked running). created
// says the Job exists; ended is the attempt's end when admission refused its Pod.
func (r *RunReconciler) startAttempt(ctx context.Context, s *runScope, start runengine.Start) (ended *runengine.Attempt, created bool, err error) {
	run, i, attempt := s.run, start.Index, start.Attempt
	u := startUnit(s.spec, start)
	// A step reads the Run's input through the run index: index before any Pod runs.
	if err := r.index(ctx, run); err != nil {
		return nil, false, err
	}
	if !s.tokenReady {
		if err := r.ensureTokenSecret(ctx, run); err != nil {
			return nil, false, err
		}
		s.tokenReady = true
	}
	spec, err := r.attemptSpec(ctx, s, u)
	if err != nil {
		return nil, false, err
	}
	built, pod, err := r.buildJob(run, spec, u, attempt)
	if err != nil {
		return nil, false, err
	}
	job, err := r.createJob(ctx, run, built)
	if err != nil {
		s.event(corev1.EventTypeWarning, aiasv1alpha1.RunEventJobCreateFailed, "Creating Job %s: %v", built.Name, err)
		return nil, false, err
	}
	if _, _, recorded := u.status(run); recorded != nil {
		*recorded = job.Name
	}
	if u.item < 0 || attempt > 1 {
		// An item's first attempt has no event of its own: the fan-out's one event says
		// they start (events are apiserver writes, and a step may have 1000 items).
		s.event(corev1.EventTypeNormal, aiasv1alpha1.RunEventStepStarted, "Step %s attempt %d started as Job %s", u.name, attempt, job.Name)
	}
	refused, err := r.refuseUnshared(ctx, s, i)
	if err == nil && refused == "" {
		refused, err = r.createPod(ctx, pod, job)
	}
	if err != nil {
		s.event(corev1.EventTypeWarning, aiasv1alpha1.RunEventPodCreateFailed, "Creating Pod %s: %v", job.Name, err)
		return nil, true, err
	}
	if refused == "" {
		return nil, true, nil
	}
	finished, err := r.endRefused(ctx, job, refused)
	if err != nil {
		return nil, true, err
	}
	a, err := r.endedAttempt(ctx, s, start.Step, attempt, finished, nil)
	if err != nil {
		return nil, true, err
	}
	return &a, true, nil
}

// refuseUnshared is why step i may not run as declared: a Secret or ServiceAccount it
// reaches is not shared with Workflows (workflow_access.go), or its Pod's placement is
// one the tenant's plan does not allow (any more: admission checked the Workflow against
// the plan of its day, and without the admission webhooks nothing did); "" when it may.
func (r *RunReconciler) refuseUnshared(ctx context.Context, s *runScope, i int) (string, error) {
	spec := s.spec
	problems, err := accessRefusals(ctx, r.APIReader, s.run.Namespace, spec, i)
	if err != nil {
		return "", err
	}
	if len(problems) > 0 {
		return problemsMessage(problems), nil
	}
	e, err := r.scopePlan(ctx, s)
	if err != nil || e == nil || e.Plan == nil {
		return "", err
	}
	place := spec.Placement(&spec.Steps[i])
	if bad := e.Limits().PlacementViolations(e.PlanName, fmt.Sprintf("step %q", spec.Steps[i].Name), &place); len(bad) > 0 {
		return strings.Join(bad, "; "), nil
	}
	return "", nil
}

// endRefused finishes the Job of an attempt whose Pod admission will never accept.
func (r *RunReconciler) endRefused(ctx context.Context, job *batchv1.Job, msg string) (*batchv1.Job, error) {
	now := metav1.NewTime(r.Now())
	finished := finishedJob(job, now, now, false, aiasv1alpha1.StepJobReasonPodRefused, "the step's Pod was refused: "+shortenNote(msg, maxEventNote))
	return finished, r.writeJobStatus(ctx, finished)
}

// followPod returns job, the Job of attempt n of u, finished once its Pod has ended
// (with the step container's exit code), once the Pod was deleted or refused, or once
// what it stalls on failed it (podStall); nil while it runs or after it was created
// here because it was missing. wait says what a running Pod waits for.
func (r *RunReconciler) followPod(ctx context.Context, s *runScope, u attemptUnit, n int32, job *batchv1.Job) (*batchv1.Job, *int32, ctrl.Result, podWait, error) {
	pod := &corev1.Pod{}
	err := r.Get(ctx, client.ObjectKeyFromObject(job), pod)
	switch {
	case err == nil && !metav1.IsControlledBy(pod, job):
		return nil, nil, ctrl.Result{}, podWait{}, fmt.Errorf("pod %s/%s is not Job %s's", pod.Namespace, pod.Name, job.Name)
	case err == nil:
		r.children.podSeen(job)
		if !podEnded(pod) {
			finished, wait, err := r.followStall(ctx, s, u, job, pod)
			return finished, nil, ctrl.Result{}, wait, err // else its end (or next stall) wakes us: the Pod watch
		}
		finished := jobStatusFromPod(job, pod)
		return finished, stepExitCode(pod), ctrl.Result{}, podWait{}, r.writeJobStatus(ctx, finished)
	case !apierrors.IsNotFound(err):
		return nil, nil, ctrl.Result{}, podWait{}, err
	case r.children.podExpected(job):
		// Created here a moment ago; the informer has not delivered it yet.
		return nil, nil, ctrl.Result{RequeueAfter: expectWindow}, podWait{}, nil
	}
	gone, err := r.absent(ctx, client.ObjectKeyFromObject(job), pod)
	if err != nil || !gone {
		return nil, nil, ctrl.Result{RequeueAfter: time.Second}, podWait{}, err
	}
	if r.children.podNeverCreated(job) || !r.children.podKnown(job) && time.Since(job.CreationTimestamp.Time) < podRecreateWindow {
		// The Job is there and its Pod never was: its creates were refused so far (a
		// namespace whose ServiceAccount is not there yet), or the manager stopped
		// between the two creates.
		// The Pod is made from the frozen spec, as at the attempt's start: the cached Job
		// has no pod template. Its references resolve to the same values (results are
		// immutable once their step succeeded).
		spec, err := r.attemptSpec(ctx, s, u)
		if err != nil {
			return nil, nil, ctrl.Result{}, podWait{}, err
		}
		refused, err := r.createPod(ctx, r.buildStepPod(s.run, spec, u, n), job)
		if err != nil || refused == "" {
			return nil, nil, ctrl.Result{}, podWait{}, err
		}
		finished, err := r.endRefused(ctx, job, refused)
		return finished, nil, ctrl.Result{}, podWait{}, err
	}
	finished := finishedJob(job, job.CreationTimestamp, metav1.NewTime(r.Now()), false, aiasv1alpha1.StepJobReasonPodDeleted,
		"the step's Pod was deleted before it finished")
	return finished, nil, ctrl.Result{}, podWait{}, r.writeJobStatus(ctx, finished)
}

// podWait is what a running attempt's Pod waits for (runengine.Attempt.Waiting and
// Deadline); zero when nothing.
type podWait struct {
	message  string
	deadline time.Time
}

// followStall fails the attempt whose Pending Pod stalls on what waiting cannot fix, or
// has stalled past its start timeout: the Job's status records why, and the Pod is
// deleted (the kubelet would otherwise retry the pull or the container for ever).
// Short of that it says what the Pod waits for, and until when.
func (r *RunReconciler) followStall(ctx context.Context, s *runScope, u attemptUnit, job *batchv1.Job, pod *corev1.Pod) (*batchv1.Job, podWait, error) {
	st := podStall(pod)
	if st.kind == stallNone {
		return nil, podWait{}, nil
	}
	pull, schedule := r.startTimeouts(s.spec, &s.spec.Steps[u.index])
	deadline := stallDeadline(st, pull, schedule)
	now := r.Now()
	if now.Before(st.quietUntil) {
		return nil, podWait{deadline: st.quietUntil}, nil // say nothing yet, look again then
	}
	if st.kind != stallFatal && now.Before(deadline) {
		return nil, podWait{message: st.message, deadline: deadline}, nil
	}
	finished := finishedJob(job, job.CreationTimestamp, metav1.NewTime(now), false, st.reason, stallFailure(st, pull, schedule))
	if err := r.writeJobStatus(ctx, finished); err != nil {
		return nil, podWait{}, err
	}
	if err := r.Delete(ctx, pod, client.Preconditions{UID: &pod.UID}); client.IgnoreNotFound(err) != nil {
		// The attempt is over either way; the Run's deletion collects the Pod.
		log.FromContext(ctx).Error(err, "deleting a stalled step Pod", "pod", pod.Name)
	}
	return finished, podWait{}, nil
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
