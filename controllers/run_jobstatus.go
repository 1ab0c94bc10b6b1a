package controllers

import (
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
)

// A step Job is managed by the Run controller (stepjob.ManagedBy), so the Run controller
// writes its status, once, when its Pod has ended: the form kube-apiserver v1.37
// validates for any Job, whoever manages it. A finished Job has a startTime and active=0;
// Complete=True comes with SuccessCriteriaMet=True and a completionTime not before the
// start; Failed=True comes with FailureTarget=True and no completionTime. One write,
// where the built-in Job controller spends three on the same Job.

// podEnded reports a Pod in a terminal phase.
func podEnded(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// jobStatusFromPod is the finished status of job after its Pod ended.
func jobStatusFromPod(job *batchv1.Job, pod *corev1.Pod) *batchv1.Job {
	start := pod.CreationTimestamp
	if pod.Status.StartTime != nil {
		start = *pod.Status.StartTime
	}
	end := start
	for _, cs := range pod.Status.ContainerStatuses {
		if t := cs.State.Terminated; t != nil && t.FinishedAt.After(end.Time) {
			end = t.FinishedAt
		}
	}
	if pod.Status.Phase == corev1.PodSucceeded {
		return finishedJob(job, start, end, true, batchv1.JobReasonCompletionsReached, "Reached expected number of succeeded pods")
	}
	reason, msg := batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
	switch {
	case pod.Status.Reason == "DeadlineExceeded":
		reason, msg = batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
	case stepTerminationReason(pod) == "OOMKilled":
		// Kept in the Job's condition: the Pod may be gone when the attempt is read again.
		reason, msg = aiasv1alpha1.StepJobReasonOOMKilled, "the step's container was killed: out of memory"
	}
	return finishedJob(job, start, end, false, reason, msg)
}

// finishedJob returns a copy of job with the terminal status: succeeded, or failed with
// reason and message, started at start and ended at end (whole seconds, as the API
// stores them; end is never before start).
func finishedJob(job *batchv1.Job, start, end metav1.Time, succeeded bool, reason, message string) *batchv1.Job {
	j := job.DeepCopy()
	start, end = start.Rfc3339Copy(), end.Rfc3339Copy()
	if j.Status.StartTime != nil {
		start = *j.Status.StartTime // set once, never changed
	}
	if end.Before(&start) {
		end = start
	}
	j.Status.StartTime = &start
	j.Status.Active = 0
	j.Status.Ready = ptr.To[int32](0)
	j.Status.Terminating = ptr.To[int32](0)
	j.Status.UncountedTerminatedPods = nil
	now := metav1.NewTime(time.Now()).Rfc3339Copy()
	if succeeded {
		j.Status.Succeeded = 1
		j.Status.CompletionTime = &end
		setJobCondition(j, batchv1.JobSuccessCriteriaMet, reason, message, now)
		setJobCondition(j, batchv1.JobComplete, reason, message, now)
	} else {
		j.Status.Failed = 1
		setJobCondition(j, batchv1.JobFailureTarget, reason, message, now)
		setJobCondition(j, batchv1.JobFailed, reason, message, now)
	}
	return j
}

func setJobCondition(j *batchv1.Job, t batchv1.JobConditionType, reason, message string, now metav1.Time) {
	c := batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: message, LastProbeTime: now, LastTransitionTime: now}
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t {
			j.Status.Conditions[i] = c
			return
		}
	}
	j.Status.Conditions = append(j.Status.Conditions, c)
}

// stepExitCode is the step container's exit code in an ended Pod; nil when it has none
// (it never ran, or the Pod failed before it).
// stepTerminationReason is the kubelet's reason for the step container's end
// ("OOMKilled", "Error", "Completed"), "" while it has not ended.
func stepTerminationReason(pod *corev1.Pod) string {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == stepjob.StepContainer && cs.State.Terminated != nil {
			return cs.State.Terminated.Reason
		}
	}
	return ""
}

func stepExitCode(pod *corev1.Pod) *int32 {
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == stepjob.StepContainer && cs.State.Terminated != nil {
			return ptr.To(cs.State.Terminated.ExitCode)
		}
	}
	return nil
}
