package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ConcurrencyPolicyType says what happens to a new Run while others of the same Workflow are active.
// +kubebuilder:validation:Enum=Allow;Forbid;Queue;Replace
type ConcurrencyPolicyType string

const (
	// ConcurrencyAllow starts every Run at once.
	ConcurrencyAllow ConcurrencyPolicyType = "Allow"
	// ConcurrencyForbid rejects a new Run while max Runs (default 1) are active.
	ConcurrencyForbid ConcurrencyPolicyType = "Forbid"
	// ConcurrencyQueue holds new Runs in phase Queued, first come first served, until a slot frees.
	ConcurrencyQueue ConcurrencyPolicyType = "Queue"
	// ConcurrencyReplace cancels the unfinished Runs (of the same key) created before the
	// new one — they end Canceled, reason Superseded, naming it — and starts the new one.
	ConcurrencyReplace ConcurrencyPolicyType = "Replace"
)

// RetryBackoff is the exponential wait between attempts of a step.
type RetryBackoff struct {
	// Duration is the wait before the second attempt.
	// +optional
	// +kubebuilder:default="10s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	Duration *metav1.Duration `json:"duration,omitempty"`

	// Factor multiplies the wait after each further failed attempt.
	// +optional
	// +kubebuilder:default=2
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=10
	Factor *int32 `json:"factor,omitempty"`

	// MaxDuration caps the wait between two attempts.
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	MaxDuration *metav1.Duration `json:"maxDuration,omitempty"`
}

// RetryPolicy says how often a failed step is tried again.
type RetryPolicy struct {
	// Limit is the number of retries after the first attempt.
	// +required
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=20
	Limit int32 `json:"limit"`

	// Backoff is the wait between attempts.
	// +optional
	Backoff *RetryBackoff `json:"backoff,omitempty"`
}

// WorkflowStep is one container run as a Kubernetes Job.
type WorkflowStep struct {
	// Name identifies the step within the workflow; a DNS label.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Image is the container image the step runs in.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image"`

	// Command is the entrypoint, run by `aias step-run` with the step input on stdin and in $AIAS_INPUT.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Command []string `json:"command"`

	// Args are appended to Command.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	Args []string `json:"args,omitempty"`

	// Env is set in the step container. Names starting with AIAS_ are reserved for the step runtime.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=128
	// +kubebuilder:validation:XValidation:rule="self.all(e, !e.name.startsWith('AIAS_'))",message="names starting with AIAS_ are reserved for the step runtime"
	Env []corev1.EnvVar `json:"env,omitempty"`

	// Resources are the step container's requests and limits.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Timeout bounds one attempt of the step (the Job's activeDeadlineSeconds).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="must be at least 1s"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Retries say how often a failed attempt is tried again.
	// +optional
	Retries *RetryPolicy `json:"retries,omitempty"`

	// SecurityContext sets the user and group the step container runs as (default: uid and
	// gid 65532). Other security settings are fixed to what Pod Security "restricted"
	// requires. A uid of 0 runs the step as root, which "restricted" namespaces (every
	// Tenant's) refuse: the Run then fails with the refusal's message.
	// +optional
	SecurityContext *StepSecurityContext `json:"securityContext,omitempty"`

	// DependsOn names the earlier steps that must succeed before this one starts.
	// Absent means the previous step (none for the first); an empty list means no dependency,
	// so the step starts with the Run. (No omitempty: an empty list must survive a Go round trip.)
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=63
	DependsOn []string `json:"dependsOn"`
}

// StepSecurityContext is the identity a step container runs as.
type StepSecurityContext struct {
	// RunAsUser is the uid; 0 means root (and drops the non-root requirement).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	RunAsUser *int64 `json:"runAsUser,omitempty"`

	// RunAsGroup is the primary gid.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=2147483647
	RunAsGroup *int64 `json:"runAsGroup,omitempty"`
}

// ConcurrencyPolicy limits the Runs of one Workflow that are active at once.
// +kubebuilder:validation:XValidation:rule="!has(self.max) || (has(self.policy) && (self.policy == 'Forbid' || self.policy == 'Queue'))",message="max applies to the Forbid and Queue policies only"
type ConcurrencyPolicy struct {
	// Policy is Allow (default), Forbid, Queue or Replace.
	// +optional
	// +kubebuilder:default=Allow
	Policy ConcurrencyPolicyType `json:"policy,omitempty"`

	// Max is the number of Runs active at once under Forbid or Queue (default 1).
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Max *int32 `json:"max,omitempty"`

	// Key is a CEL expression over the Run's params (e.g. params.branch) whose value
	// splits the policy: Forbid, Queue, max and Replace apply among Runs with the same
	// key. Absent, all Runs of the Workflow share one key.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Key string `json:"key,omitempty"`
}

// HistoryPolicy says how many finished Runs are kept, and for how long.
// Counts and TTL combine: a finished Run is pruned when either says so.
type HistoryPolicy struct {
	// Succeeded is the number of succeeded Runs to keep.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Succeeded *int32 `json:"succeeded,omitempty"`

	// Failed is the number of failed, canceled or rejected Runs to keep.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10000
	Failed *int32 `json:"failed,omitempty"`

	// TTL is how long a finished Run is kept after it completes.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration"
	TTL *metav1.Duration `json:"ttl,omitempty"`
}

// WorkflowSpec declares the steps of a workflow and how its Runs are scheduled.
type WorkflowSpec struct {
	// Steps run as Jobs: in order, or as a DAG through dependsOn.
	// Names are unique and dependsOn names only earlier steps, so the graph has no cycles.
	// +required
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(s, self.exists_one(o, o.name == s.name))",message="step names must be unique"
	// +kubebuilder:validation:XValidation:rule="self.all(s, !has(s.dependsOn) || s.dependsOn.all(d, self.exists(o, o.name == d)))",message="dependsOn must name steps of this workflow"
	// +kubebuilder:validation:XValidation:rule="self.all(i, s, !has(s.dependsOn) || s.dependsOn.all(d, self.exists(j, o, j < i && o.name == d)))",message="dependsOn may only name earlier steps (this rules out cycles)"
	Steps []WorkflowStep `json:"steps"`

	// Params declares the parameters a Run may (or, when required, must) give. Names are
	// unique ignoring case, since each also becomes an environment variable in upper case.
	// +optional
	// +listType=map
	// +listMapKey=name
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:XValidation:rule="self.all(p, self.exists_one(q, q.name.lowerAscii() == p.name.lowerAscii()))",message="parameter names must be unique ignoring case"
	Params []WorkflowParam `json:"params,omitempty"`

	// Concurrency limits the Runs of this Workflow that are active at once.
	// +optional
	Concurrency *ConcurrencyPolicy `json:"concurrency,omitempty"`

	// Timeout bounds a whole Run; when it passes, the Run fails and its Jobs are stopped.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="must be at least 1s"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// History says how many finished Runs are kept, and for how long.
	// +optional
	History *HistoryPolicy `json:"history,omitempty"`

	// ServiceAccountName is the service account the step pods run as. When absent, pods get
	// no service account token at all.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}

// LastRunSummary describes the newest Run of a Workflow.
type LastRunSummary struct {
	// Name of the Run.
	Name string `json:"name"`
	// Phase of the Run.
	// +optional
	Phase RunPhase `json:"phase,omitempty"`
	// StartTime of the Run.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// CompletionTime of the Run.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// WorkflowStatus reports whether the Workflow is usable and how its Runs went.
type WorkflowStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// StepCount is the number of steps in the observed spec, for `kubectl get workflows`.
	// +optional
	StepCount int32 `json:"stepCount,omitempty"`
	// LastRun is the newest Run of this Workflow.
	// +optional
	LastRun *LastRunSummary `json:"lastRun,omitempty"`
	// ActiveRuns is the number of Runs running now.
	// +optional
	ActiveRuns int32 `json:"activeRuns,omitempty"`
	// QueuedRuns is the number of Runs waiting for a concurrency slot.
	// +optional
	QueuedRuns int32 `json:"queuedRuns,omitempty"`
	// Conditions describe the workflow's state; Ready is always present once reconciled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=awf,categories=aias
// +kubebuilder:printcolumn:name="Steps",type=integer,JSONPath=`.status.stepCount`
// +kubebuilder:printcolumn:name="Last Run",type=string,JSONPath=`.status.lastRun.name`
// +kubebuilder:printcolumn:name="Last Phase",type=string,JSONPath=`.status.lastRun.phase`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Workflow is a reusable sequence or DAG of container steps. Each Run of it executes
// one Kubernetes Job per step attempt.
type Workflow struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec WorkflowSpec `json:"spec"`
	// +optional
	Status WorkflowStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// WorkflowList is a list of Workflows.
type WorkflowList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Workflow `json:"items"`
}

func init() {
	register(&Workflow{}, &WorkflowList{})
}
