package v1alpha1

import (
	"time"

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

	// RetryOn selects the failures that are retried: an attempt that fails is tried
	// again when it matches any selector set here. Unset: every failure is retried.
	// (Not `on`: YAML 1.1, which kubectl's parser speaks, reads an unquoted `on` key as
	// true.)
	// +optional
	RetryOn *RetryOn `json:"retryOn,omitempty"`

	// InfrastructureLimit is how many attempts lost to the cluster (the Pod evicted,
	// preempted, deleted or its node lost) are tried again at once without spending
	// limit (default 3, also for a step without retries). Past it such a failure is
	// like any other.
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=10
	InfrastructureLimit *int32 `json:"infrastructureLimit,omitempty"`
}

// DefaultInfrastructureRetries is retries.infrastructureLimit when unset.
const DefaultInfrastructureRetries = 3

// RetryOn selects the failed attempts a step's retries apply to (any selector matching
// retries it).
type RetryOn struct {
	// ExitCodes: the step's command exited with one of these codes.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	ExitCodes []int32 `json:"exitCodes,omitempty"`

	// Reasons: the attempt failed for one of these reasons. OOMKilled: the kernel killed
	// the container at its memory limit; Timeout: the step's timeout; Infrastructure:
	// the cluster lost the attempt (past infrastructureLimit); Error: the command exited
	// non-zero or was killed by a signal.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=4
	Reasons []RetryReason `json:"reasons,omitempty"`

	// Expression is a CEL expression over `attempt` (number, exitCode (-1 when the
	// command never exited), reason, message, durationSeconds) that is true for an
	// attempt to retry, e.g. `attempt.exitCode == 75 || attempt.message.contains("503")`.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Expression string `json:"expression,omitempty"`
}

// RetryReason is a kind of failure retries.retryOn can select.
// +kubebuilder:validation:Enum=OOMKilled;Timeout;Infrastructure;Error
type RetryReason string

// Retry reasons.
const (
	RetryOnOOMKilled      RetryReason = "OOMKilled"
	RetryOnTimeout        RetryReason = "Timeout"
	RetryOnInfrastructure RetryReason = "Infrastructure"
	RetryOnError          RetryReason = "Error"
)

// StartTimeouts bound how long a step's Pod may wait to start: for its images and for
// a node.
type StartTimeouts struct {
	// ImagePullTimeout is how long the step's images may fail to pull (ErrImagePull,
	// ImagePullBackOff) before the attempt fails naming the image and the kubelet's
	// message (default: the Workflow's, else the manager's --step-image-pull-timeout, 2m).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	ImagePullTimeout *metav1.Duration `json:"imagePullTimeout,omitempty"`

	// SchedulingTimeout is how long the step's Pod may wait for a node (unschedulable:
	// insufficient resources, no matching node, taints) before the attempt fails with
	// the scheduler's message (default: the Workflow's, else the manager's
	// --step-scheduling-timeout, 10m).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	SchedulingTimeout *metav1.Duration `json:"schedulingTimeout,omitempty"`
}

// WorkflowStep is one container run as a Kubernetes Job, or an approval gate.
// +kubebuilder:validation:XValidation:rule="has(self.approval) || has(self.workflowRef) || has(self.image)",message="Required value: a step needs an image (or is an approval gate, approval, or runs a Workflow, workflowRef)",fieldPath=".image"
// +kubebuilder:validation:XValidation:rule="has(self.approval) || has(self.workflowRef) || has(self.command)",message="Required value: a step needs a command (or is an approval gate, approval, or runs a Workflow, workflowRef)",fieldPath=".command"
// +kubebuilder:validation:XValidation:rule="!has(self.workflowRef) || !has(self.image) && !has(self.command) && !has(self.args) && !has(self.env) && !has(self.forEach) && !has(self.retries) && !has(self.resources) && !has(self.approval) && !has(self.cache)",message="a step that runs a Workflow runs no container: it has none of image, command, args, env, resources, retries, forEach, approval and cache",fieldPath=".workflowRef"
// +kubebuilder:validation:XValidation:rule="!has(self.approval) || !has(self.image) && !has(self.command) && !has(self.args) && !has(self.env) && !has(self.forEach) && !has(self.retries) && !has(self.resources)",message="an approval gate runs no container: it has none of image, command, args, env, resources, retries and forEach",fieldPath=".approval"
// +kubebuilder:validation:XValidation:rule="!has(self.cache) || !has(self.approval) && !has(self.forEach)",message="cache applies to container steps without forEach",fieldPath=".cache"
// +kubebuilder:validation:XValidation:rule="!(has(self.depends) && has(self.dependsOn))",message="set depends or dependsOn, not both"
// +kubebuilder:validation:XValidation:rule="has(self.forEach) || !has(self.parallelism)",message="parallelism applies to forEach steps only"
// +kubebuilder:validation:XValidation:rule="has(self.forEach) || !has(self.continueOnItemFailure) || !self.continueOnItemFailure",message="continueOnItemFailure applies to forEach steps only"
type WorkflowStep struct {
	// Name identifies the step within the workflow; a DNS label.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Name string `json:"name"`

	// Image is the container image the step runs in (required unless the step is an
	// approval gate).
	// +optional
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=512
	Image string `json:"image,omitempty"`

	// Command is the entrypoint, run by the step runtime (`aias-step step-run`) with the step input on stdin and in $AIAS_INPUT
	// (required unless the step is an approval gate).
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	Command []string `json:"command,omitempty"`

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

	// StartTimeouts: imagePullTimeout and schedulingTimeout of this step's Pods.
	StartTimeouts `json:",inline"`

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

	// Depends is a join over earlier steps' outcomes, in place of dependsOn: step names
	// combined with &&, || and ! and parentheses, each optionally with a phase,
	// `build.Succeeded`, `build.Skipped` or `build.Ended` (either). A bare name means
	// Succeeded. The step waits until every step it names has ended, then runs when the
	// expression is true and is Skipped otherwise; for example `deploy-a || deploy-b`
	// joins two branches only one of which runs. (dependsOn instead skips a step as soon
	// as one of its dependencies was skipped or failed.)
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Depends string `json:"depends,omitempty"`

	// When is a CEL expression deciding, once the step's dependencies allow it to start,
	// whether it runs (true) or is Skipped (false). It reads `params` (the Run's
	// parameter values), `input` (the Run's input, parsed when it is JSON), `run`
	// (`name`, `trigger`, `endpoint`, `deliveryID`) and `steps.<name>.phase` and
	// `steps.<name>.result` (the step's parsed result, up to 64 KiB) of the steps it
	// depends on, directly or not; write `steps["a-b"]` for a name with a dash. A step
	// skipped by when skips its dependsOn dependents too. An error while evaluating fails
	// the step with the expression's message.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	When string `json:"when,omitempty"`

	// ForEach fans the step out: a CEL expression over the same variables as when
	// (`params`, `input`, `run`, `steps.<name>.result`) yielding a list, evaluated once the
	// step may start. Each item runs as its own attempts (one Job per item and attempt,
	// `<run>-<step>.<index>-<attempt>`), with its own retries, the item in `$(item)`,
	// `$(item.<field>)` (in image, args and env values) and in `$AIAS_ITEM` (JSON; its
	// index in `$AIAS_ITEM_INDEX`). The step's result is the JSON array of the items'
	// results, in item order (null for an item that wrote none or failed). The list may
	// hold at most the plan's itemsPerStep items (and never more than 1000); an empty
	// list succeeds with the result [].
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	ForEach string `json:"forEach,omitempty"`

	// Parallelism is how many items of a forEach step run at once (an item waiting for
	// its retry holds its place). Absent: all of them.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000
	Parallelism *int32 `json:"parallelism,omitempty"`

	// ContinueOnItemFailure lets a forEach step succeed when items failed after their
	// retries: the failed items are listed in the step's status and message, and are
	// null in its result. Without it the first item that fails stops the fan-out (no new
	// item starts; those running finish) and fails the step.
	// +optional
	ContinueOnItemFailure bool `json:"continueOnItemFailure,omitempty"`

	// Approval makes the step a gate instead of a container: once its dependencies and
	// its when let it start, it waits (phase Waiting, no Job, no Pod, and its Run holds no
	// concurrency slot while nothing else runs) until a user allowed to approve Runs in
	// the namespace (RBAC: create on runs/approve) and named by approvers, if set,
	// approves or rejects it through the user API (`aias approve|reject`, the console).
	// Approved: the step succeeds and the steps after it run; rejected: it fails.
	// +optional
	Approval *ApprovalGate `json:"approval,omitempty"`

	// Cache lets the step take the result of an earlier Succeeded attempt instead of
	// running: one of a Run in the same namespace, within ttl, of the same resolved step
	// (image, command, args and env values after substitution) with the same input (the
	// Run's input digest, or its dependencies' result digests) and the same parameters —
	// or, with key, the same key value instead of input and parameters. A hit creates no
	// Job and no Pod: the step's artifacts and logs are those of the attempt it came
	// from, and status.steps[].cachedFrom names it.
	// +optional
	Cache *StepCache `json:"cache,omitempty"`

	// WorkflowRef makes the step run another Workflow of the namespace as a child Run
	// instead of a container: the child (named `<run>-<step>`, owned by this Run,
	// labelled aias.dev/parent-run) gets this Run's input and the params given here;
	// the step's phase follows the child's, and its result is the result of the child's
	// last step. Canceling this Run cancels the child. Nesting is bounded
	// (MaxWorkflowDepth) and a Workflow that names itself is refused.
	// +optional
	WorkflowRef *StepWorkflowRef `json:"workflowRef,omitempty"`

	// PodPlacement: nodeSelector, tolerations, affinity, priorityClassName,
	// runtimeClassName and imagePullSecrets of the step's Pod, over spec.podTemplate's.
	PodPlacement `json:",inline"`
}

// StepWorkflowRef names the Workflow a step runs as a child Run.
type StepWorkflowRef struct {
	// Name of the Workflow, in this namespace.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
	// Params of the child Run. Values may hold $(params.NAME) of this Run and
	// $(steps.NAME.result...) of this step's ancestors.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	Params map[string]string `json:"params,omitempty"`
}

// MaxWorkflowDepth bounds how deep Runs may nest through workflowRef steps: a Run at
// this depth fails such a step instead of starting a child (a cycle through several
// Workflows ends there).
const MaxWorkflowDepth = 4

// StepCache says when a step may reuse an earlier attempt's outputs.
type StepCache struct {
	// TTL is how old a cached attempt may be (its end, to this step's start).
	// +required
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('8760h')",message="must be between 1s and 8760h"
	TTL metav1.Duration `json:"ttl"`

	// Key is a CEL expression (over params, input, run and the ancestors' steps, as for
	// when) whose value stands for the step's input and parameters in the cache key: a
	// key that reads less than they hold widens the cache, one that reads more narrows it.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Key string `json:"key,omitempty"`
}

// ApprovalGate is a step that waits for a person's decision.
type ApprovalGate struct {
	// Approvers narrows who may decide to these users and groups (as the apiserver
	// authenticates them); they still need RBAC create on runs/approve. Empty: anyone
	// with that permission.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=32
	Approvers []Approver `json:"approvers,omitempty"`

	// Timeout is how long the gate waits for a decision (default 24h, at most 720h).
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('720h')",message="must be between 1s and 720h"
	Timeout *metav1.Duration `json:"timeout,omitempty"`

	// Message is shown to the approvers (console, CLI, the step's status).
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// OnTimeout is what a timeout decides: Reject (default: the step fails) or Approve.
	// +optional
	// +kubebuilder:validation:Enum=Reject;Approve
	OnTimeout string `json:"onTimeout,omitempty"`
}

// Approver is a user or a group that may decide an approval gate.
type Approver struct {
	// Kind is User or Group.
	// +kubebuilder:validation:Enum=User;Group
	Kind string `json:"kind"`
	// Name of the user or group, as the apiserver authenticates it.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`
}

// Approval gate timeouts and decisions.
const (
	DefaultApprovalTimeout   = 24 * time.Hour
	ApprovalOnTimeoutReject  = "Reject"
	ApprovalOnTimeoutApprove = "Approve"
)

// MaxItemsPerStep is the most items a forEach step may fan out to on any plan: every
// item has a line in the Run's status (ItemStatus, about 200 bytes), which stays far
// below what etcd accepts.
const MaxItemsPerStep = 1000

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
// +kubebuilder:validation:XValidation:rule="!has(self.finally) || self.finally.all(f, !self.steps.exists(s, s.name == f.name))",message="a finally step may not share a name with a step"
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

	// Finally are steps run once every step of steps has ended, whatever its outcome
	// (GitHub Actions' `if: always()`, Tekton's finally, Argo's onExit): to report, notify
	// or clean up. They form their own DAG: dependsOn names earlier finally steps, and
	// absent means the previous finally step (none for the first). Their when reads
	// run.phase (Succeeded, Failed or Canceled: how steps ended) and run.failedSteps, and every
	// step's phase and result; their args and env read $(run.phase) and
	// $(run.failedSteps). A finally step that fails fails the Run, whose message keeps the
	// first failure's reason first. A Run canceled or past its timeout stops its steps
	// and still runs its finally steps (bounded by finallyTimeout) before it ends.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:XValidation:rule="self.all(s, self.exists_one(o, o.name == s.name))",message="finally step names must be unique"
	// +kubebuilder:validation:XValidation:rule="self.all(i, s, !has(s.dependsOn) || s.dependsOn.all(d, self.exists(j, o, j < i && o.name == d)))",message="a finally step's dependsOn may only name earlier finally steps"
	Finally []WorkflowStep `json:"finally,omitempty"`

	// FinallyTimeout bounds the finally steps, from the moment they may start (every step
	// ended, or the Run was canceled or passed its timeout): when it passes, the finally
	// steps still running are stopped and fail. Default 10m.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="must be at least 1s"
	FinallyTimeout *metav1.Duration `json:"finallyTimeout,omitempty"`

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

	// PodTemplate holds the placement every step's Pod gets unless the step says
	// otherwise: nodeSelector, tolerations, affinity, priorityClassName, runtimeClassName,
	// imagePullSecrets.
	// +optional
	PodTemplate *PodPlacement `json:"podTemplate,omitempty"`

	// StartTimeouts: the imagePullTimeout and schedulingTimeout of every step that does
	// not set its own.
	StartTimeouts `json:",inline"`
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
