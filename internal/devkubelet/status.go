package devkubelet

import (
	"context"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Reasons of the Failed condition beyond the Job controller's own
// (batchv1.JobReasonBackoffLimitExceeded, batchv1.JobReasonDeadlineExceeded).
const (
	// ReasonRestarted: the Job started under an earlier dev kubelet that is gone.
	ReasonRestarted = "DevKubeletRestarted"
	// ReasonUnsupported: the pod uses something the dev kubelet cannot emulate
	// (a volume other than emptyDir, no command, completions > 1, ...).
	ReasonUnsupported = "DevKubeletUnsupported"
)

// Status writes follow what kube-apiserver v1.37 validates for a Job with the built-in
// Job controller: startTime is set once and never changed, a finished Job has active=0
// and a startTime, Complete=True comes with SuccessCriteriaMet=True and a completionTime,
// Failed=True comes with FailureTarget=True and no completionTime, and counters only grow.

// writeStarted records startTime and one active pod, and returns the start time. The
// API keeps whole seconds; the returned time is the precise one, so that a deadline
// counted from it gives the process its full activeDeadlineSeconds rather than up to a
// second less. A zero time means the Job was not started: it is gone, finished,
// suspended, or already has a startTime.
func (k *Kubelet) writeStarted(ctx context.Context, job *batchv1.Job) (time.Time, error) {
	now := time.Now()
	written, err := k.updateStatus(ctx, job, func(j *batchv1.Job) bool {
		if j.Status.StartTime != nil || ptr.Deref(j.Spec.Suspend, false) {
			return false
		}
		j.Status.StartTime = ptr.To(metav1.NewTime(now).Rfc3339Copy())
		j.Status.Active = 1
		return true
	})
	if err != nil || !written {
		return time.Time{}, err
	}
	return now, nil
}

// writeComplete records a successful pod.
func (k *Kubelet) writeComplete(ctx context.Context, job *batchv1.Job) error {
	_, err := k.updateStatus(ctx, job, func(j *batchv1.Job) bool {
		now := metav1.Now().Rfc3339Copy()
		ensureStarted(j, now)
		if now.Before(j.Status.StartTime) { // a clock step back must not make the write invalid
			now = *j.Status.StartTime
		}
		j.Status.Active = 0
		j.Status.Succeeded++
		j.Status.CompletionTime = &now
		settle(j)
		const msg = "Reached expected number of succeeded pods"
		setCondition(j, batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, msg, now)
		setCondition(j, batchv1.JobComplete, batchv1.JobReasonCompletionsReached, msg, now)
		return true
	})
	return err
}

// writeFailed records a failed pod (or a Job that could not run at all) with reason
// and message on both FailureTarget and Failed.
func (k *Kubelet) writeFailed(ctx context.Context, job *batchv1.Job, reason, message string) error {
	_, err := k.updateStatus(ctx, job, func(j *batchv1.Job) bool {
		now := metav1.Now().Rfc3339Copy()
		ensureStarted(j, now)
		j.Status.Active = 0
		j.Status.Failed++
		settle(j)
		setCondition(j, batchv1.JobFailureTarget, reason, message, now)
		setCondition(j, batchv1.JobFailed, reason, message, now)
		return true
	})
	return err
}

// updateStatus applies mutate to a fresh copy of the Job and writes its status,
// retrying on conflicts. It writes nothing, and reports no error, when the Job is gone,
// was replaced by another of the same name, is already finished, or mutate declines.
func (k *Kubelet) updateStatus(ctx context.Context, job *batchv1.Job, mutate func(*batchv1.Job) bool) (bool, error) {
	written := false
	err := retry.RetryOnConflict(retry.DefaultBackoff, func() error {
		j := &batchv1.Job{}
		if err := k.APIReader.Get(ctx, client.ObjectKeyFromObject(job), j); err != nil {
			return err
		}
		if j.UID != job.UID || isFinished(j) || !mutate(j) {
			return nil
		}
		if err := k.Client.Status().Update(ctx, j); err != nil {
			return err
		}
		written = true
		return nil
	})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	return written, err
}

// ensureStarted gives a Job that fails before it ever ran the startTime every finished
// Job must have.
func ensureStarted(j *batchv1.Job, now metav1.Time) {
	if j.Status.StartTime == nil {
		j.Status.StartTime = &now
	}
}

// settle zeroes the pod counts a finished Job must not have.
func settle(j *batchv1.Job) {
	if j.Status.Ready != nil {
		j.Status.Ready = ptr.To[int32](0)
	}
	if j.Status.Terminating != nil {
		j.Status.Terminating = ptr.To[int32](0)
	}
}

func setCondition(j *batchv1.Job, t batchv1.JobConditionType, reason, message string, now metav1.Time) {
	c := batchv1.JobCondition{
		Type:               t,
		Status:             corev1.ConditionTrue,
		Reason:             reason,
		Message:            message,
		LastProbeTime:      now,
		LastTransitionTime: now,
	}
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t {
			j.Status.Conditions[i] = c
			return
		}
	}
	j.Status.Conditions = append(j.Status.Conditions, c)
}

// isFinished: Complete=True or Failed=True, the Job's terminal states.
func isFinished(j *batchv1.Job) bool {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}
