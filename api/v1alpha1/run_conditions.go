package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// A Run reports its progress in one condition, Ready: Unknown while it waits or runs,
// True once it succeeded, False once it ended any other way. Its reason is one of the
// RunReason values below: tools (the console, the CLI, scripts) compare against them, so
// they are API and never change.
const (
	// RunConditionReady is the type of a Run's one condition.
	RunConditionReady = ConditionReady
)

// Reasons of a Run's Ready condition while it has not ended (status Unknown).
const (
	// RunReasonQueued: the Run waits for a concurrency slot (policy Queue, or the
	// tenant's concurrentRuns).
	RunReasonQueued = "Queued"
	// RunReasonRunning: the Run was admitted and its steps run.
	RunReasonRunning = "Running"
	// RunReasonWorkflowNotFound: the Run's Workflow does not exist. Unknown while the Run
	// waits briefly for it to appear; False once the Run failed for it.
	RunReasonWorkflowNotFound = "WorkflowNotFound"
)

// Reasons of a Run's Ready condition once it ended (status True or False).
const (
	// RunReasonSucceeded: every step succeeded.
	RunReasonSucceeded = "Succeeded"
	// RunReasonStepFailed: a step failed after its last attempt.
	RunReasonStepFailed = "StepFailed"
	// RunReasonOriginalNotFound: the Run named by spec.resumeOf does not exist or never
	// started.
	RunReasonOriginalNotFound = "OriginalNotFound"
	// RunReasonTimeout: the Workflow's spec.timeout passed before the Run ended.
	RunReasonTimeout = "Timeout"
	// RunReasonCanceled: spec.cancel was set.
	RunReasonCanceled = "Canceled"
	// RunReasonSuperseded: a newer Run of the same concurrency key replaced this one
	// (policy Replace); the phase is Canceled.
	RunReasonSuperseded = "Superseded"
	// RunReasonQuotaExceeded: the tenant's plan does not allow the Run to start (the
	// period's runs are used up, or the plan does not exist); the phase is Rejected.
	RunReasonQuotaExceeded = "QuotaExceeded"
	// RunReasonConcurrencyForbidden: the Workflow's maximum of active Runs was reached
	// under policy Forbid; the phase is Rejected.
	RunReasonConcurrencyForbidden = "ConcurrencyForbidden"
	// RunReasonInvalidParams: spec.params do not match the Workflow's params; the phase
	// is Rejected.
	RunReasonInvalidParams = "InvalidParams"
	// RunReasonInvalidConcurrencyKey: the Workflow's concurrency key does not evaluate
	// with the Run's params; the phase is Rejected.
	RunReasonInvalidConcurrencyKey = "InvalidConcurrencyKey"
	// RunReasonInputNotFound: spec.inputRef names an input the Run's namespace never
	// stored (or one swept after every Run using it was deleted); the phase is Failed.
	RunReasonInputNotFound = "InputNotFound"
)

// Reasons of a step Job's Failed condition that the Run controller writes beyond the
// Job controller's own (BackoffLimitExceeded, DeadlineExceeded).
const (
	// StepJobReasonPodRefused: admission refused the attempt's Pod for good (Pod Security,
	// an invalid Pod, a Secret or ServiceAccount not shared with Workflows).
	StepJobReasonPodRefused = "PodRefused"
	// StepJobReasonOOMKilled: the kernel killed the step container at its memory limit
	// (the container status said OOMKilled).
	StepJobReasonOOMKilled = "OOMKilled"
	// StepJobReasonPodDeleted: the attempt's Pod was deleted before it ended.
	StepJobReasonPodDeleted = "PodDeleted"
	// StepJobReasonEvicted: the kubelet evicted the Pod (node pressure) or the eviction
	// API did (a drain).
	StepJobReasonEvicted = "Evicted"
	// StepJobReasonPreempted: the scheduler preempted the Pod for one of higher priority.
	StepJobReasonPreempted = "Preempted"
	// StepJobReasonNodeLost: the Pod's node went away, or the control plane gave up on
	// it (taint manager, Pod garbage collection, node shutdown).
	StepJobReasonNodeLost = "NodeLost"
	// StepJobReasonNodeRejected: the kubelet refused to admit the Pod (OutOfcpu,
	// NodeAffinity, UnexpectedAdmissionError, ...).
	StepJobReasonNodeRejected = "NodeRejected"
	// StepJobReasonImagePull: an image could not be pulled within the step's
	// imagePullTimeout (ErrImagePull, ImagePullBackOff), or its name is invalid.
	StepJobReasonImagePull = "ImagePullFailed"
	// StepJobReasonContainerConfig: the kubelet could not create or start the step's
	// container (CreateContainerConfigError: a missing Secret, ConfigMap or key;
	// CreateContainerError; RunContainerError).
	StepJobReasonContainerConfig = "ContainerConfigError"
	// StepJobReasonUnschedulable: no node took the Pod within the step's
	// schedulingTimeout.
	StepJobReasonUnschedulable = "Unschedulable"
	// StepJobReasonVolumeMount: the Pod's node did not set it up within the step's
	// schedulingTimeout: a volume that does not mount (FailedMount), or a sandbox the
	// container runtime cannot create.
	StepJobReasonVolumeMount = "PodSetupFailed"
)

// InfrastructureFailure reports a step Job reason that says the cluster lost the attempt,
// not that the step's command failed: such attempts are retried without spending the
// step's retries (retries.infrastructureLimit).
func InfrastructureFailure(reason string) bool {
	switch reason {
	case StepJobReasonPodDeleted, StepJobReasonEvicted, StepJobReasonPreempted, StepJobReasonNodeLost, StepJobReasonNodeRejected:
		return true
	}
	return false
}

// Reasons of the events the Run controller records on a Run (kubectl describe run).
// A Run's end is recorded with its phase as the reason ("Succeeded", "Failed", ...).
const (
	RunEventQueued       = "Queued"
	RunEventReplaced     = "Replaced"
	RunEventStepStarted  = "StepStarted"
	RunEventStepRetrying = "StepRetrying"
	RunEventStepFailed   = "StepFailed"
	RunEventStepStopped  = "StepStopped"
	// RunEventStopping: a Run with finally steps was canceled or passed its timeout; its
	// steps stopped and its finally steps run before it ends.
	RunEventStopping = "Stopping"
	// RunEventApprovalWaiting, RunEventApproved, RunEventRejected: an approval gate
	// started waiting, and how it was decided (by whom, with their comment).
	RunEventApprovalWaiting = "ApprovalWaiting"
	RunEventApproved        = "Approved"
	RunEventRejected        = "Rejected"
	RunEventJobCreateFailed = "JobCreateFailed"
	RunEventPodCreateFailed = "PodCreateFailed"
)

// GetConditions returns the Run's status conditions (internal/conditions.Setter).
func (r *Run) GetConditions() []metav1.Condition { return r.Status.Conditions }

// SetConditions replaces the Run's status conditions (internal/conditions.Setter).
func (r *Run) SetConditions(c []metav1.Condition) { r.Status.Conditions = c }
