package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PlanLimits are the ceilings a tenant on this plan may reach. An absent limit means
// unlimited; zero means none at all (for example a plan that allows no webhook endpoints).
type PlanLimits struct {
	// Workflows is the maximum number of Workflows in the tenant's namespace.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Workflows *int32 `json:"workflows,omitempty"`

	// WebhookEndpoints is the maximum number of WebhookEndpoints in the tenant's namespace.
	// +optional
	// +kubebuilder:validation:Minimum=0
	WebhookEndpoints *int32 `json:"webhookEndpoints,omitempty"`

	// Schedules is the maximum number of Schedules in the tenant's namespace.
	// +optional
	// +kubebuilder:validation:Minimum=0
	Schedules *int32 `json:"schedules,omitempty"`

	// RunsPerMonth is the number of Runs that may start in one billing period.
	// +optional
	// +kubebuilder:validation:Minimum=0
	RunsPerMonth *int64 `json:"runsPerMonth,omitempty"`

	// ConcurrentRuns is the number of Runs that may be active at once; further Runs wait Queued.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ConcurrentRuns *int32 `json:"concurrentRuns,omitempty"`

	// StepsPerWorkflow is the maximum number of steps in one Workflow.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=64
	StepsPerWorkflow *int32 `json:"stepsPerWorkflow,omitempty"`

	// MaxStepTimeout is the longest timeout a step may declare (Go duration, e.g. "30m").
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) > duration('0s')",message="must be a positive duration"
	MaxStepTimeout *metav1.Duration `json:"maxStepTimeout,omitempty"`

	// DeliveryRetention is how long the body of a verified delivery is kept, so that it
	// can be redelivered (default 7 days; 0s keeps none). The delivery log's rows outlive it.
	// +optional
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	DeliveryRetention *metav1.Duration `json:"deliveryRetention,omitempty"`

	// DeliveryLogBytes caps the bytes of delivery bodies the tenant's delivery log keeps
	// for redelivery, over all its endpoints: past it the oldest bodies are dropped first
	// (their log rows stay). Absent: bounded only by deliveryRetention.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DeliveryLogBytes *int64 `json:"deliveryLogBytes,omitempty"`

	// DeliveriesPerMinute caps the verified deliveries the tenant's endpoints may receive
	// per minute, all endpoints together (each endpoint's own rateLimit applies as well);
	// past it the hook listener answers 429 RateLimited with Retry-After.
	// +optional
	// +kubebuilder:validation:Minimum=0
	DeliveriesPerMinute *int32 `json:"deliveriesPerMinute,omitempty"`

	// ItemsPerStep caps the items a forEach step may fan out to: a longer list fails the
	// step before any item starts, naming the limit. Absent: MaxItemsPerStep (1000).
	// +optional
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	ItemsPerStep *int32 `json:"itemsPerStep,omitempty"`

	// AllowedRuntimeClasses, when set, are the only runtimeClassNames the tenant's steps
	// may name (spec.podTemplate or a step). Absent: any.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	AllowedRuntimeClasses []string `json:"allowedRuntimeClasses,omitempty"`

	// AllowedPriorityClasses, when set, are the only priorityClassNames the tenant's steps
	// may name. Absent: any.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	AllowedPriorityClasses []string `json:"allowedPriorityClasses,omitempty"`

	// AllowedNodeSelectorKeys, when set, are the only node label keys the tenant's steps
	// may select nodes by, in nodeSelector and in node affinity expressions: a tenant
	// cannot aim its steps at another tenant's dedicated nodes. Absent: any.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	AllowedNodeSelectorKeys []string `json:"allowedNodeSelectorKeys,omitempty"`

	// AllowedTolerationKeys, when set, are the only taint keys the tenant's steps may
	// tolerate (a toleration without a key tolerates every taint and is refused then).
	// Absent: any.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	AllowedTolerationKeys []string `json:"allowedTolerationKeys,omitempty"`

	// ArtifactBytesPerRun caps the total size of the artifacts one Run may store.
	// +optional
	// +kubebuilder:validation:Minimum=0
	ArtifactBytesPerRun *int64 `json:"artifactBytesPerRun,omitempty"`

	// LogBytesPerRun caps the total size of the log lines one Run may store.
	// +optional
	// +kubebuilder:validation:Minimum=0
	LogBytesPerRun *int64 `json:"logBytesPerRun,omitempty"`
}

// PlanSpec defines what a tenant on this plan may use.
type PlanSpec struct {
	// DisplayName is the human-readable name shown in the UI, e.g. "Pro".
	// +optional
	// +kubebuilder:validation:MaxLength=64
	DisplayName string `json:"displayName,omitempty"`

	// Limits are the plan's ceilings.
	// +required
	Limits PlanLimits `json:"limits"`

	// StripePriceIDs are the Stripe prices whose active subscription puts a tenant on this plan.
	// +optional
	// +listType=set
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Pattern=`^price_[A-Za-z0-9]+$`
	// +kubebuilder:validation:items:MaxLength=255
	StripePriceIDs []string `json:"stripePriceIDs,omitempty"`
}

// PlanStatus reports how the plan is used.
type PlanStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Tenants is the number of tenants whose effective plan this is.
	// +optional
	Tenants int32 `json:"tenants,omitempty"`

	// Conditions describe the plan's state; Ready is always present once reconciled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=apl,categories=aias
// +kubebuilder:printcolumn:name="Display",type=string,JSONPath=`.spec.displayName`
// +kubebuilder:printcolumn:name="Runs/Month",type=integer,JSONPath=`.spec.limits.runsPerMonth`
// +kubebuilder:printcolumn:name="Concurrent",type=integer,JSONPath=`.spec.limits.concurrentRuns`
// +kubebuilder:printcolumn:name="Tenants",type=integer,JSONPath=`.status.tenants`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Plan is a cluster-wide set of limits that tenants are held to. Its name is what
// Tenant.spec.plan refers to; its Stripe price ids are how a subscription selects it.
type Plan struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec PlanSpec `json:"spec"`
	// +optional
	Status PlanStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// PlanList is a list of Plans.
type PlanList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Plan `json:"items"`
}

func init() {
	register(&Plan{}, &PlanList{})
}
