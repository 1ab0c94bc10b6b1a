package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"strconv"
)

// MaxInlineInputLength is the largest spec.input kept in the Run itself. Larger payloads
// go to the store and are referenced by spec.inputRef, so etcd never carries them.
const MaxInlineInputLength = 16384

// MaxContentTypeLength bounds every content type AIAS stores or puts in a status (a
// Run's input, an artifact): the schema's maxLength, and what the hook listener and the
// step API refuse with 400 above it.
const MaxContentTypeLength = 255

// RunPhase is where a Run is in its life.
// +kubebuilder:validation:Enum=Pending;Queued;Running;Waiting;Succeeded;Failed;Canceled;Rejected
type RunPhase string

const (
	RunPending RunPhase = "Pending"
	RunQueued  RunPhase = "Queued"
	RunRunning RunPhase = "Running"
	// RunWaiting: an approval gate waits for a decision and no step runs.
	RunWaiting   RunPhase = "Waiting"
	RunSucceeded RunPhase = "Succeeded"
	RunFailed    RunPhase = "Failed"
	RunCanceled  RunPhase = "Canceled"
	RunRejected  RunPhase = "Rejected"
)

// Finished reports whether the phase is final.
func (p RunPhase) Finished() bool {
	switch p {
	case RunSucceeded, RunFailed, RunCanceled, RunRejected:
		return true
	}
	return false
}

// StepPhase is where one step of a Run is.
// +kubebuilder:validation:Enum=Pending;Running;Retrying;Waiting;Succeeded;Failed;Skipped;Canceled
type StepPhase string

const (
	// StepWaiting: an approval gate waits for a decision.
	StepWaiting   StepPhase = "Waiting"
	StepPending   StepPhase = "Pending"
	StepRunning   StepPhase = "Running"
	StepRetrying  StepPhase = "Retrying"
	StepSucceeded StepPhase = "Succeeded"
	StepFailed    StepPhase = "Failed"
	StepSkipped   StepPhase = "Skipped"
	StepCanceled  StepPhase = "Canceled"
)

// TriggerType says what started a Run.
// +kubebuilder:validation:Enum=Webhook;Manual;Replay;Resume;Schedule;Redelivery;Parent
type TriggerType string

const (
	TriggerWebhook TriggerType = "Webhook"
	TriggerManual  TriggerType = "Manual"
	TriggerReplay  TriggerType = "Replay"
	TriggerResume  TriggerType = "Resume"
	// TriggerParent: a workflowRef step of another Run (the parent) started it.
	TriggerParent     TriggerType = "Parent"
	TriggerSchedule   TriggerType = "Schedule"
	TriggerRedelivery TriggerType = "Redelivery"
)

// RunTrigger records what started the Run.
// +kubebuilder:validation:XValidation:rule="self.type != 'Webhook' || (has(self.endpoint) && has(self.deliveryID))",message="a Webhook trigger needs endpoint and deliveryID"
type RunTrigger struct {
	// Type is Webhook, Manual (default), Replay, Schedule or Redelivery (a stored delivery
	// sent through its endpoint again from the delivery log; endpoint and deliveryID name it).
	// +optional
	// +kubebuilder:default=Manual
	Type TriggerType `json:"type,omitempty"`

	// Endpoint is the WebhookEndpoint that received the delivery.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Endpoint string `json:"endpoint,omitempty"`

	// Schedule is the Schedule whose tick started the Run (type Schedule).
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Schedule string `json:"schedule,omitempty"`

	// DeliveryID is the sender's delivery id; with the endpoint's UID it determines the Run's name.
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=256
	DeliveryID string `json:"deliveryID,omitempty"`
}

// InputReference points at a run input held in the store because it is too large for etcd.
type InputReference struct {
	// Digest is the sha256 of the input bytes: "sha256:" and 64 hex digits.
	// +required
	// +kubebuilder:validation:Pattern=`^sha256:[a-f0-9]{64}$`
	Digest string `json:"digest"`

	// Size of the input in bytes.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Size int64 `json:"size,omitempty"`

	// ContentType of the input, e.g. application/json (at most MaxContentTypeLength).
	// +optional
	// +kubebuilder:validation:MaxLength=255
	ContentType string `json:"contentType,omitempty"`
}

// RunSpec says which Workflow to run with which input. It is immutable once created,
// except that cancel may be set to true.
// +kubebuilder:validation:XValidation:rule="!(has(self.input) && has(self.inputRef))",message="set input or inputRef, not both"
// +kubebuilder:validation:XValidation:rule="has(self.replayOf) == (has(self.trigger) && self.trigger.type == 'Replay')",message="replayOf must be set when, and only when, trigger.type is Replay"
// +kubebuilder:validation:XValidation:rule="has(self.resumeOf) == (has(self.trigger) && self.trigger.type == 'Resume')",message="resumeOf must be set when, and only when, trigger.type is Resume"
// +kubebuilder:validation:XValidation:rule="has(self.resumeOf) == has(oldSelf.resumeOf) && (!has(self.resumeOf) || self.resumeOf == oldSelf.resumeOf)",message="resumeOf is immutable"
// +kubebuilder:validation:XValidation:rule="self.workflowRef == oldSelf.workflowRef",message="workflowRef is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.input) == has(oldSelf.input) && (!has(self.input) || self.input == oldSelf.input)",message="input is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.inputRef) == has(oldSelf.inputRef) && (!has(self.inputRef) || self.inputRef == oldSelf.inputRef)",message="inputRef is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.trigger) == has(oldSelf.trigger) && (!has(self.trigger) || self.trigger == oldSelf.trigger)",message="trigger is immutable"
// +kubebuilder:validation:XValidation:rule="has(self.replayOf) == has(oldSelf.replayOf) && (!has(self.replayOf) || self.replayOf == oldSelf.replayOf)",message="replayOf is immutable"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.cancel) || !oldSelf.cancel || (has(self.cancel) && self.cancel)",message="cancel cannot be unset once true"
// +kubebuilder:validation:XValidation:rule="has(self.params) == has(oldSelf.params) && (!has(self.params) || self.params == oldSelf.params)",message="params are immutable"
type RunSpec struct {
	// WorkflowRef is the Workflow to run, in this namespace. Its spec is frozen when the Run starts.
	// +required
	WorkflowRef WorkflowReference `json:"workflowRef"`

	// Input is the run input (normally JSON text), given to every step on stdin and in $AIAS_INPUT.
	// Inline inputs are capped at 16384 characters; larger ones go to the store (inputRef).
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Input *string `json:"input,omitempty"`

	// InputRef points at an input held in the store.
	// +optional
	InputRef *InputReference `json:"inputRef,omitempty"`

	// Trigger records what started the Run.
	// +optional
	Trigger *RunTrigger `json:"trigger,omitempty"`

	// ReplayOf names the Run whose input this one replays.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ReplayOf string `json:"replayOf,omitempty"`

	// ResumeOf names the Run this one resumes (issue 24): it runs that Run's frozen spec,
	// input and parameters, and its steps that Succeeded there take their outputs from
	// it (status.steps[].cachedFrom) instead of running again.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ResumeOf string `json:"resumeOf,omitempty"`

	// Cancel stops the Run's Jobs and ends it as Canceled. It cannot be unset.
	// +optional
	Cancel bool `json:"cancel,omitempty"`

	// Params are the values of the Workflow's parameters (spec.params there). A name the
	// Workflow does not declare, a missing required one or a value outside its enum ends
	// the Run Rejected. Unset ones take their default.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_]*$') && size(k) <= 63)",message="parameter names are letters, digits and underscores (at most 63), not starting with a digit"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 4096)",message="a parameter value is at most 4096 bytes"
	Params map[string]string `json:"params,omitempty"`
}

// StepStatus reports one step of a Run.
type StepStatus struct {
	// Name of the step.
	Name string `json:"name"`
	// Phase of the step.
	// +optional
	Phase StepPhase `json:"phase,omitempty"`
	// Attempts started so far.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// InfrastructureRetries counts the attempts the cluster lost (evicted, preempted,
	// Pod deleted, node lost) that were tried again without spending retries.limit.
	// +optional
	InfrastructureRetries int32 `json:"infrastructureRetries,omitempty"`
	// JobName is the Job of the current (or last) attempt.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// StartTime of the first attempt.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime of the last attempt.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// NextAttemptTime is when a retry will start.
	// +optional
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`
	// ExitCode of the last attempt's command.
	// +optional
	ExitCode *int32 `json:"exitCode,omitempty"`
	// Message explains the phase in words.
	// +optional
	Message string `json:"message,omitempty"`
	// OutputDigest is the sha256 of the step's `result` artifact.
	// +optional
	OutputDigest string `json:"outputDigest,omitempty"`
	// ChildRun is the Run a workflowRef step started.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	ChildRun string `json:"childRun,omitempty"`
	// CachedFrom names the attempt whose outputs a cached step took instead of running.
	// +optional
	CachedFrom *CachedFrom `json:"cachedFrom,omitempty"`
	// Approval records the decision of an approval gate: who, when and why.
	// +optional
	Approval *ApprovalStatus `json:"approval,omitempty"`
	// Items reports each item of a forEach step, in list order (item i is Items[i]);
	// set once the step's list was evaluated.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=1000
	Items []ItemStatus `json:"items,omitempty"`
}

// CachedFrom is an earlier attempt a cached step took its outputs from.
type CachedFrom struct {
	// Run is the Run the attempt belonged to (in the same namespace).
	// +kubebuilder:validation:MaxLength=253
	Run string `json:"run"`
	// Step and Attempt name the attempt.
	// +kubebuilder:validation:MaxLength=63
	Step    string `json:"step"`
	Attempt int32  `json:"attempt"`
}

// ApprovalStatus is the decision on an approval gate.
type ApprovalStatus struct {
	// Decision is Approved or Rejected.
	// +kubebuilder:validation:Enum=Approved;Rejected
	Decision string `json:"decision"`
	// By is the user who decided, as the apiserver authenticated them; empty when the
	// gate's timeout decided.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	By string `json:"by,omitempty"`
	// Comment the user gave.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Comment string `json:"comment,omitempty"`
	// Time of the decision.
	Time metav1.Time `json:"time"`
	// TimedOut: the gate's timeout decided (by its onTimeout).
	// +optional
	TimedOut bool `json:"timedOut,omitempty"`
}

// Approval decisions.
const (
	ApprovalApproved = "Approved"
	ApprovalRejected = "Rejected"
)

// RunStop is why and when a running Run was stopped before its finally steps ran.
type RunStop struct {
	// Reason is the Run's reason once it ends: Canceled, Superseded or Timeout.
	// +kubebuilder:validation:Enum=Canceled;Superseded;Timeout
	Reason string `json:"reason"`
	// Message says why, as the Run's message will.
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message"`
	// Time the Run was stopped; the finally steps' finallyTimeout counts from it.
	Time metav1.Time `json:"time"`
}

// ItemStepName is the name item index of forEach step step goes by wherever an attempt is
// named by its step (the step API's tickets, the store's logs and artifacts, the user
// API, the CLI, $AIAS_STEP): `<step>.<index>`, which no step name can be (step names
// are DNS labels, without dots).
func ItemStepName(step string, index int) string { return step + "." + strconv.Itoa(index) }

// ItemStatus reports one item of a forEach step. Its attempts are Jobs
// `<run>-<step>.<index>-<attempt>`, labelled with the step and aias.dev/item; its logs
// and artifacts are the step's `<step>.<index>` in the user API, the CLI and the console.
type ItemStatus struct {
	// Phase of the item: Pending, Running, Retrying, Succeeded, Failed or Skipped (not
	// started because another item failed, or the Run ended).
	// +optional
	Phase StepPhase `json:"phase,omitempty"`
	// Attempts started so far.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`
	// InfrastructureRetries counts the attempts the cluster lost (evicted, preempted,
	// Pod deleted, node lost) that were tried again without spending retries.limit.
	// +optional
	InfrastructureRetries int32 `json:"infrastructureRetries,omitempty"`
	// JobName is the Job of the current (or last) attempt.
	// +optional
	JobName string `json:"jobName,omitempty"`
	// NextAttemptTime is when a retry will start.
	// +optional
	NextAttemptTime *metav1.Time `json:"nextAttemptTime,omitempty"`
	// ExitCode of the last attempt's command.
	// +optional
	ExitCode *int32 `json:"exitCode,omitempty"`
	// Message explains a failure.
	// +optional
	Message string `json:"message,omitempty"`
	// OutputDigest is the sha256 of the item's `result` artifact.
	// +optional
	OutputDigest string `json:"outputDigest,omitempty"`
}

// MaxStatusArtifacts is the most artifacts a Run's status lists (the schema's maxItems).
const MaxStatusArtifacts = 100

// ArtifactStatus lists one stored step output. The content lives in the store, never in etcd.
type ArtifactStatus struct {
	// Step that produced the artifact.
	Step string `json:"step"`
	// Name of the artifact (`result` for stdout, else the file name).
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Digest is the sha256 of the content.
	Digest string `json:"digest"`
	// Size in bytes.
	// +optional
	Size int64 `json:"size,omitempty"`
	// ContentType of the content (at most MaxContentTypeLength).
	// +optional
	// +kubebuilder:validation:MaxLength=255
	ContentType string `json:"contentType,omitempty"`
}

// RunStatus tells the story of a Run.
type RunStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// ConcurrencyKey is the value of the Workflow's spec.concurrency.key for this Run.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	ConcurrencyKey string `json:"concurrencyKey,omitempty"`
	// Phase is Pending, Queued, Running, Succeeded, Failed, Canceled or Rejected.
	// +optional
	Phase RunPhase `json:"phase,omitempty"`
	// Message explains the phase in words.
	// +optional
	Message string `json:"message,omitempty"`
	// SpecDigest is the sha256 of the resolved Workflow spec, frozen when the Run starts.
	// +optional
	SpecDigest string `json:"specDigest,omitempty"`
	// InputDigest is the sha256 of the input.
	// +optional
	InputDigest string `json:"inputDigest,omitempty"`
	// Steps reports each step of the frozen Workflow.
	// +optional
	// +listType=map
	// +listMapKey=name
	Steps []StepStatus `json:"steps,omitempty"`
	// StepsSummary is "<succeeded>/<total>" for `kubectl get runs`.
	// +optional
	StepsSummary string `json:"stepsSummary,omitempty"`
	// Artifacts lists the outputs the steps' latest attempts stored, at most
	// MaxStatusArtifacts of them (in step order, then by name): a Run's status stays far
	// below what etcd accepts however many artifacts its steps store. ArtifactCount says
	// how many there are, ArtifactsURL where all of them are listed when this list is cut.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=100
	Artifacts []ArtifactStatus `json:"artifacts,omitempty"`
	// ArtifactCount is how many outputs the steps' latest attempts stored.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ArtifactCount int32 `json:"artifactCount,omitempty"`
	// ArtifactsURL is set when Artifacts lists only the first MaxStatusArtifacts of
	// ArtifactCount: the user API's path that lists them all
	// (`/api/v1/namespaces/<ns>/runs/<run>/artifacts`; `aias artifacts <run>` reads it).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	ArtifactsURL string `json:"artifactsURL,omitempty"`
	// StartTime is when the first step started.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// Stopping is set when a running Run with finally steps was canceled, superseded or
	// passed its timeout: its steps were stopped and its finally steps run (bounded by
	// the Workflow's finallyTimeout from Stopping.time) before it ends as this says.
	// +optional
	Stopping *RunStop `json:"stopping,omitempty"`
	// CompletionTime is when the Run reached a final phase.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
	// Duration is CompletionTime minus StartTime, for `kubectl get runs`.
	// +optional
	Duration string `json:"duration,omitempty"`
	// Conditions describe the Run's state; Ready is always present once reconciled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ar,categories=aias
// +kubebuilder:printcolumn:name="Workflow",type=string,JSONPath=`.spec.workflowRef.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Steps",type=string,JSONPath=`.status.stepsSummary`
// +kubebuilder:printcolumn:name="Trigger",type=string,JSONPath=`.spec.trigger.type`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
// +kubebuilder:printcolumn:name="Duration",type=string,JSONPath=`.status.duration`

// Run is one execution of a Workflow with one input. Its name is derived from the
// delivery when a webhook started it, so a redelivery finds the same Run.
type Run struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec RunSpec `json:"spec"`
	// +optional
	Status RunStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// RunList is a list of Runs.
type RunList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Run `json:"items"`
}

func init() {
	register(&Run{}, &RunList{})
}
