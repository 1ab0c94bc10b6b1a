package controllers

import (
	"context"
	"fmt"
	"sort"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/userapi"
)

// finish records the final phase and everything that goes with it: completion time,
// duration, the artifact list, the Ready condition, an event and metrics; then it frees
// the concurrency slot and stops any Job still running.
func (r *RunReconciler) finish(ctx context.Context, s *runScope, f runengine.Finish) error {
	run := s.run
	// Cancel wins over whatever else ended the Run in the same pass: running attempts
	// are canceled and steps that never started are skipped.
	f = runengine.Ending(f, run.Spec.Cancel, run.Annotations[aiasv1alpha1.AnnotationSupersededBy])
	phase := f.Phase
	if phase == aiasv1alpha1.RunCanceled {
		runengine.EndSteps(run.Status.Steps, aiasv1alpha1.StepCanceled, "run canceled")
	}
	now := metav1.NewTime(r.Now())
	run.Status.Phase, run.Status.Message = phase, f.Message
	run.Status.CompletionTime = &now
	if run.Status.StartTime != nil {
		d := now.Sub(run.Status.StartTime.Time)
		run.Status.Duration = d.Round(time.Second).String()
		s.count(func() { runDuration.WithLabelValues(string(phase)).Observe(d.Seconds()) })
	}
	run.Status.StepsSummary = runengine.Summary(run.Status.Steps)
	setRunEnded(run, f)
	eventType := corev1.EventTypeWarning
	if phase == aiasv1alpha1.RunSucceeded {
		eventType = corev1.EventTypeNormal
	}
	// The event reason is the phase ("Succeeded", "Failed", ...): `kubectl describe` folds
	// events with equal reasons, and a step's StepFailed must stay visible beside it.
	s.event(eventType, string(phase), "Run %s (%s): %s", lowerPhase(phase), f.Reason, f.Message)
	s.count(func() { runsFinished.WithLabelValues(string(phase)).Inc() })
	if err := r.refreshArtifacts(ctx, run); err != nil {
		return err
	}
	return r.reconcileFinished(ctx, s)
}

// stop stops a running Run that has finally steps (canceled, superseded, or past its
// timeout): the Jobs of its steps are stopped, and the stop is recorded so that the
// engine ends its steps and runs its finally steps, then ends it as the stop says. The
// Jobs go first: a crash before the status write stops them again, which is harmless.
func (r *RunReconciler) stop(ctx context.Context, s *runScope, stop *aiasv1alpha1.RunStop) error {
	run := s.run
	// Only the steps' Jobs: a reconcile that repeats the stop from a cache that has not
	// seen it yet must not stop a finally step the first one started.
	mainSteps := map[string]bool{}
	for _, st := range s.spec.Steps[:s.mainSteps] {
		mainSteps[st.Name] = true
	}
	stopped, err := r.stopJobs(ctx, run, false, func(j *batchv1.Job) bool { return mainSteps[j.Labels[aiasv1alpha1.LabelStep]] })
	for _, name := range stopped {
		s.event(corev1.EventTypeNormal, aiasv1alpha1.RunEventStepStopped, "Stopped Job %s", name)
	}
	if err != nil {
		return err
	}
	run.Status.Stopping = stop
	run.Status.Message = stop.Message + "; running the finally steps"
	s.event(corev1.EventTypeNormal, aiasv1alpha1.RunEventStopping, "Run stopped (%s): %s; running the finally steps", stop.Reason, stop.Message)
	return nil
}

// reconcileFinished keeps a finished Run finished: its slot is free and none of its
// Jobs runs. Both are idempotent, so a crash between recording the phase and doing them
// is repaired on the next reconcile.
func (r *RunReconciler) reconcileFinished(ctx context.Context, s *runScope) error {
	if err := r.Store.ReleaseSlot(ctx, string(s.run.UID)); err != nil {
		return fmt.Errorf("releasing the concurrency slot: %w", err)
	}
	if err := r.cancelChildren(ctx, s.run); err != nil {
		return err
	}
	stopped, err := r.stopJobs(ctx, s.run, false, nil)
	for _, name := range stopped {
		s.event(corev1.EventTypeNormal, aiasv1alpha1.RunEventStepStopped, "Stopped Job %s", name)
	}
	return err
}

// stopJobs deletes the Run's Jobs that are still running (all of them when all is set;
// only those only accepts when it is set),
// and returns the names of those it stopped while they ran. Background propagation lets
// the garbage collector remove their pods, which stops them.
func (r *RunReconciler) stopJobs(ctx context.Context, run *aiasv1alpha1.Run, all bool, only func(*batchv1.Job) bool) (stopped []string, err error) {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(run.Namespace), client.MatchingFields{IndexJobRunUID: string(run.UID)}); err != nil {
		return nil, err
	}
	if !all {
		defer r.children.runFinished(jobs.Items)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		done, _, _ := jobResult(j)
		done = done || r.children.jobWrittenFinished(j.UID) // finished a moment ago; the cache lags
		if (done && !all) || !j.DeletionTimestamp.IsZero() || only != nil && !only(j) {
			continue
		}
		if err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return stopped, err
		}
		if !all {
			stopped = append(stopped, j.Name)
		}
	}
	return stopped, nil
}

// reconcileDelete runs the finalizer: stop the Jobs, delete the token Secret, delete the
// Run's rows from the store, then let the Run go. The owner references would remove Jobs
// and Secret too, but only eventually; a Run recreated under the same name must not
// find them.
func (r *RunReconciler) reconcileDelete(ctx context.Context, run *aiasv1alpha1.Run) error {
	if !controllerutil.ContainsFinalizer(run, aiasv1alpha1.RunFinalizer) {
		return nil
	}
	if _, err := r.stopJobs(ctx, run, true, nil); err != nil {
		return err
	}
	secret := &corev1.Secret{}
	secret.Namespace, secret.Name = run.Namespace, tokenSecretName(run.Name)
	if err := r.Delete(ctx, secret, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := r.Store.DeleteRun(ctx, string(run.UID)); err != nil {
		return fmt.Errorf("deleting the run's store rows: %w", err)
	}
	r.indexed.Delete(run.UID) // a Run deleted before it finished is not forgotten by index()
	patch := client.MergeFromWithOptions(run.DeepCopy(), client.MergeFromWithOptimisticLock{})
	controllerutil.RemoveFinalizer(run, aiasv1alpha1.RunFinalizer)
	return r.Patch(ctx, run, patch)
}

// refreshArtifacts lists the outputs of each step's latest attempt from the store.
// Status carries digests and sizes, never content.
func (r *RunReconciler) refreshArtifacts(ctx context.Context, run *aiasv1alpha1.Run) error {
	all, err := r.Store.ListArtifacts(ctx, string(run.UID))
	if err != nil {
		return fmt.Errorf("listing artifacts: %w", err)
	}
	order := map[string]int{}
	latest := map[string]int32{}
	for i, st := range run.Status.Steps {
		// A forEach step has no attempts of its own; its result array is stored as
		// its attempt 1 (writeResultArray).
		order[st.Name], latest[st.Name] = i, max(st.Attempts, 1)
	}
	var out []aiasv1alpha1.ArtifactStatus
	for _, a := range all {
		if int32(a.Attempt) != latest[a.Step] {
			continue
		}
		ct := a.ContentType
		if len(ct) > aiasv1alpha1.MaxContentTypeLength {
			ct = "" // stored before the step API capped it; the schema would refuse the status
		}
		out = append(out, aiasv1alpha1.ArtifactStatus{Step: a.Step, Name: a.Name, Digest: a.Digest, Size: a.Size, ContentType: ct})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if order[out[i].Step] != order[out[j].Step] {
			return order[out[i].Step] < order[out[j].Step]
		}
		return out[i].Name < out[j].Name
	})
	// However many artifacts the steps stored, the status lists a bounded number: one
	// that etcd refused would keep the Run from ever recording that it finished.
	run.Status.ArtifactCount, run.Status.ArtifactsURL = int32(len(out)), ""
	if len(out) > aiasv1alpha1.MaxStatusArtifacts {
		out = out[:aiasv1alpha1.MaxStatusArtifacts]
		run.Status.ArtifactsURL = userapi.ArtifactsPath(run.Namespace, run.Name)
	}
	run.Status.Artifacts = out
	return nil
}

func lowerPhase(p aiasv1alpha1.RunPhase) string {
	switch p {
	case aiasv1alpha1.RunSucceeded:
		return "succeeded"
	case aiasv1alpha1.RunFailed:
		return "failed"
	case aiasv1alpha1.RunCanceled:
		return "canceled"
	case aiasv1alpha1.RunRejected:
		return "rejected"
	}
	return string(p)
}
