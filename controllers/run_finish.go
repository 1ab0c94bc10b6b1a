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
)

// finish records the final phase and everything that goes with it: completion time,
// duration, the artifact list, the Ready condition, an event and metrics; then it frees
// the concurrency slot and stops any Job still running.
func (r *RunReconciler) finish(ctx context.Context, run *aiasv1alpha1.Run, phase aiasv1alpha1.RunPhase, reason, message string) error {
	// Cancel wins over whatever else ended the Run in the same pass: running attempts
	// are canceled and steps that never started are skipped.
	if run.Spec.Cancel {
		phase, reason, message = aiasv1alpha1.RunCanceled, "Canceled", "canceled by spec.cancel"
		if by := run.Annotations[aiasv1alpha1.AnnotationSupersededBy]; by != "" {
			reason, message = ReasonSuperseded, "superseded by run "+by
		}
	}
	if phase == aiasv1alpha1.RunCanceled {
		endSteps(run, aiasv1alpha1.StepCanceled, "run canceled")
	}
	now := metav1.NewTime(r.Now())
	run.Status.Phase, run.Status.Message = phase, message
	run.Status.CompletionTime = &now
	if run.Status.StartTime != nil {
		d := now.Sub(run.Status.StartTime.Time)
		run.Status.Duration = d.Round(time.Second).String()
		r.count(run, func() { runDuration.WithLabelValues(string(phase)).Observe(d.Seconds()) })
	}
	run.Status.StepsSummary = stepsSummary(run)
	status := metav1.ConditionFalse
	eventType := corev1.EventTypeWarning
	if phase == aiasv1alpha1.RunSucceeded {
		status, eventType = metav1.ConditionTrue, corev1.EventTypeNormal
	}
	setReady(run, status, reason, message)
	// The event reason is the phase ("Succeeded", "Failed", ...): `kubectl describe` folds
	// events with equal reasons, and a step's StepFailed must stay visible beside it.
	r.event(run, eventType, string(phase), "Run %s (%s): %s", lowerPhase(phase), reason, message)
	r.count(run, func() { runsFinished.WithLabelValues(string(phase)).Inc() })
	if err := r.refreshArtifacts(ctx, run); err != nil {
		return err
	}
	return r.reconcileFinished(ctx, run)
}

// reconcileFinished keeps a finished Run finished: its slot is free and none of its
// Jobs runs. Both are idempotent, so a crash between recording the phase and doing them
// is repaired on the next reconcile.
func (r *RunReconciler) reconcileFinished(ctx context.Context, run *aiasv1alpha1.Run) error {
	if err := r.Store.ReleaseSlot(ctx, string(run.UID)); err != nil {
		return fmt.Errorf("releasing the concurrency slot: %w", err)
	}
	return r.stopJobs(ctx, run, false)
}

// stopJobs deletes the Run's Jobs that are still running (all of them when all is set).
// Background propagation lets the garbage collector remove their pods, which stops them.
func (r *RunReconciler) stopJobs(ctx context.Context, run *aiasv1alpha1.Run, all bool) error {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(run.Namespace), client.MatchingFields{IndexJobRunUID: string(run.UID)}); err != nil {
		return err
	}
	if !all {
		defer r.children.runFinished(jobs.Items)
	}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		done, _, _ := jobResult(j)
		done = done || r.children.jobWrittenFinished(j.UID) // finished a moment ago; the cache lags
		if (done && !all) || !j.DeletionTimestamp.IsZero() {
			continue
		}
		if err := r.Delete(ctx, j, client.PropagationPolicy(metav1.DeletePropagationBackground)); client.IgnoreNotFound(err) != nil {
			return err
		}
		if !all {
			r.event(run, corev1.EventTypeNormal, "StepStopped", "Stopped Job %s", j.Name)
		}
	}
	return nil
}

// reconcileDelete runs the finalizer: stop the Jobs, delete the token Secret, delete the
// Run's rows from the store, then let the Run go. The owner references would remove Jobs
// and Secret too, but only eventually; a Run recreated under the same name must not
// find them.
func (r *RunReconciler) reconcileDelete(ctx context.Context, run *aiasv1alpha1.Run) error {
	if !controllerutil.ContainsFinalizer(run, aiasv1alpha1.RunFinalizer) {
		return nil
	}
	if err := r.stopJobs(ctx, run, true); err != nil {
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
		order[st.Name], latest[st.Name] = i, st.Attempts
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
		run.Status.ArtifactsURL = artifactsPath(run)
	}
	run.Status.Artifacts = out
	return nil
}

// artifactsPath is where the user API lists all of a Run's artifacts.
func artifactsPath(run *aiasv1alpha1.Run) string {
	return "/api/v1/namespaces/" + run.Namespace + "/runs/" + run.Name + "/artifacts"
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
