package controllers

import (
	"cmp"
	"fmt"
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
	reason, msg := podFailure(pod)
	return finishedJob(job, start, end, false, reason, msg)
}

// podFailure is the Job reason and message of a Pod that ended Failed, in the words
// `kubectl describe pod` uses: the cluster's own reason (evicted, preempted, node lost,
// refused by the kubelet) before the step's, and the Pod's status message whenever it
// says more than a generic Job message. Kept in the Job's condition: the Pod may be
// gone when the attempt is read again.
func podFailure(pod *corev1.Pod) (reason, msg string) {
	if c := podCondition(pod, corev1.DisruptionTarget); c != nil && c.Status == corev1.ConditionTrue {
		detail := cmp.Or(pod.Status.Message, c.Message)
		switch c.Reason {
		case "PreemptionByScheduler":
			return aiasv1alpha1.StepJobReasonPreempted, "the step's Pod was preempted: " + oneLine(detail)
		case "EvictionByEvictionAPI":
			return aiasv1alpha1.StepJobReasonEvicted, "the step's Pod was evicted: " + oneLine(detail)
		default: // DeletionByTaintManager, DeletionByPodGC, TerminationByKubelet
			return aiasv1alpha1.StepJobReasonNodeLost, fmt.Sprintf("the step's node went away (%s): %s", c.Reason, oneLine(detail))
		}
	}
	if pod.DeletionTimestamp != nil && pod.Status.Reason != "DeadlineExceeded" {
		// Deleted while it ran (by a user, a controller, a drain without the eviction API):
		// its containers were stopped, so their exit codes tell nothing of the step.
		return aiasv1alpha1.StepJobReasonPodDeleted, "the step's Pod was deleted before it finished"
	}
	switch r := pod.Status.Reason; {
	case r == "DeadlineExceeded":
		return batchv1.JobReasonDeadlineExceeded, "Job was active longer than specified deadline"
	case r == "Evicted":
		return aiasv1alpha1.StepJobReasonEvicted, "the step's Pod was evicted: " + oneLine(pod.Status.Message)
	case r == "NodeLost" || r == "Shutdown" || r == "NodeShutdown" || r == "Terminated":
		return aiasv1alpha1.StepJobReasonNodeLost, fmt.Sprintf("the step's node went away (%s): %s", r, oneLine(pod.Status.Message))
	case r != "" && stepExitCode(pod) == nil:
		// The kubelet refused the Pod before its command ran (OutOfcpu, NodeAffinity,
		// UnexpectedAdmissionError, ...).
		return aiasv1alpha1.StepJobReasonNodeRejected, fmt.Sprintf("the node refused the step's Pod (%s): %s", r, oneLine(pod.Status.Message))
	}
	if t := stepTerminated(pod); t != nil {
		switch t.Reason {
		case "OOMKilled":
			return aiasv1alpha1.StepJobReasonOOMKilled, "the step's container was killed: out of memory"
		case "StartError", "ContainerCannotRun":
			return aiasv1alpha1.StepJobReasonContainerConfig, fmt.Sprintf("the step's container could not be started (%s): %s", t.Reason, oneLine(t.Message))
		}
	}
	if t := installTerminated(pod); t != nil && t.ExitCode != 0 {
		return batchv1.JobReasonBackoffLimitExceeded, fmt.Sprintf("the step runtime's init container %s failed (exit code %d, %s): %s",
			stepjob.InstallContainer, t.ExitCode, t.Reason, oneLine(t.Message))
	}
	if m := oneLine(pod.Status.Message); m != "" {
		return batchv1.JobReasonBackoffLimitExceeded, m
	}
	return batchv1.JobReasonBackoffLimitExceeded, "Job has reached the specified backoff limit"
}

func podCondition(pod *corev1.Pod, t corev1.PodConditionType) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == t {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
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

// stepTerminated is the step container's terminated state; nil while it has not ended.
func stepTerminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	return terminated(pod.Status.ContainerStatuses, stepjob.StepContainer)
}

// installTerminated is the install init container's terminated state, nil when none.
func installTerminated(pod *corev1.Pod) *corev1.ContainerStateTerminated {
	return terminated(pod.Status.InitContainerStatuses, stepjob.InstallContainer)
}

func terminated(statuses []corev1.ContainerStatus, name string) *corev1.ContainerStateTerminated {
	for _, cs := range statuses {
		if cs.Name == name && cs.State.Terminated != nil {
			return cs.State.Terminated
		}
	}
	return nil
}

// stepExitCode is the step container's exit code in an ended Pod; nil when it has none
// (it never ran, or the Pod failed before it).
func stepExitCode(pod *corev1.Pod) *int32 {
	if t := stepTerminated(pod); t != nil {
		return ptr.To(t.ExitCode)
	}
	return nil
}
