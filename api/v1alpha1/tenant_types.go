package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// MemberKind is the kind of Kubernetes subject a tenant member is.
// +kubebuilder:validation:Enum=User;Group;ServiceAccount
type MemberKind string

const (
	MemberUser           MemberKind = "User"
	MemberGroup          MemberKind = "Group"
	MemberServiceAccount MemberKind = "ServiceAccount"
)

// MemberRole selects the aias ClusterRole a member is bound to in the tenant namespace.
// Each role includes the ones after it: owner > admin > editor > viewer.
// +kubebuilder:validation:Enum=owner;admin;editor;viewer
type MemberRole string

const (
	RoleOwner  MemberRole = "owner"
	RoleAdmin  MemberRole = "admin"
	RoleEditor MemberRole = "editor"
	RoleViewer MemberRole = "viewer"
)

// DeletionPolicy says what happens to the tenant namespace when the Tenant is deleted.
// +kubebuilder:validation:Enum=Retain;Delete
type DeletionPolicy string

const (
	DeletionRetain DeletionPolicy = "Retain"
	DeletionDelete DeletionPolicy = "Delete"
)

// TenantMember grants one subject a role in the tenant namespace.
// +kubebuilder:validation:XValidation:rule="self.kind == 'ServiceAccount' || !has(self.__namespace__)",message="namespace applies to ServiceAccount members only"
type TenantMember struct {
	// Kind of subject: User, Group or ServiceAccount.
	// +required
	Kind MemberKind `json:"kind"`

	// Name of the user, group or service account as the cluster's authenticator reports it.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of a ServiceAccount member; defaults to the tenant namespace.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	Namespace string `json:"namespace,omitempty"`

	// Role granted: owner, admin, editor or viewer.
	// +required
	Role MemberRole `json:"role"`
}

// TenantBilling links the tenant to its Stripe customer.
type TenantBilling struct {
	// StripeCustomerID is the Stripe customer (cus_...) whose subscription selects the plan.
	// +optional
	// +kubebuilder:validation:Pattern=`^cus_[A-Za-z0-9]+$`
	// +kubebuilder:validation:MaxLength=255
	StripeCustomerID string `json:"stripeCustomerID,omitempty"`
}

// TenantSpec declares a tenant: its namespace (the Tenant's name), plan and members.
type TenantSpec struct {
	// DisplayName is the human-readable name shown in the UI.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	DisplayName string `json:"displayName,omitempty"`

	// Plan is the name of the Plan used when no active subscription selects one;
	// absent means the cluster's default plan.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`
	Plan string `json:"plan,omitempty"`

	// Members are the subjects bound to aias roles in the tenant namespace.
	// +optional
	// +listType=atomic
	// +kubebuilder:validation:MaxItems=256
	// +kubebuilder:validation:XValidation:rule="self.all(m, self.exists_one(o, o.kind == m.kind && o.name == m.name && (has(o.__namespace__) ? o.__namespace__ : '') == (has(m.__namespace__) ? m.__namespace__ : '')))",message="each member (kind, name, namespace) may appear only once"
	Members []TenantMember `json:"members,omitempty"`

	// Billing links the tenant to Stripe.
	// +optional
	Billing *TenantBilling `json:"billing,omitempty"`

	// DeletionPolicy says whether deleting the Tenant deletes its namespace (Delete)
	// or leaves it and everything in it (Retain, the default).
	// +optional
	// +kubebuilder:default=Retain
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`
}

// SubscriptionStatus mirrors the tenant's Stripe subscription as last reported by Stripe.
type SubscriptionStatus struct {
	// ID is the Stripe subscription id (sub_...).
	// +optional
	ID string `json:"id,omitempty"`
	// Status is Stripe's subscription status: active, trialing, past_due, canceled, ...
	// +optional
	Status string `json:"status,omitempty"`
	// PriceID is the subscribed Stripe price.
	// +optional
	PriceID string `json:"priceID,omitempty"`
	// CurrentPeriodEnd is when the current billing period ends.
	// +optional
	CurrentPeriodEnd *metav1.Time `json:"currentPeriodEnd,omitempty"`
	// PastDueSince is when the subscription became past_due, for the grace period.
	// +optional
	PastDueSince *metav1.Time `json:"pastDueSince,omitempty"`
	// UpdatedAt is the creation time of the newest Stripe event applied to this subscription.
	// +optional
	UpdatedAt *metav1.Time `json:"updatedAt,omitempty"`
}

// TenantUsage counts what the tenant uses against its plan.
type TenantUsage struct {
	// Workflows in the tenant namespace.
	// +optional
	Workflows int32 `json:"workflows"`
	// WebhookEndpoints in the tenant namespace.
	// +optional
	WebhookEndpoints int32 `json:"webhookEndpoints"`
	// RunsThisPeriod is the number of Runs started in the current billing period.
	// +optional
	RunsThisPeriod int64 `json:"runsThisPeriod"`
	// ActiveRuns is the number of Runs running now.
	// +optional
	ActiveRuns int32 `json:"activeRuns"`
	// DeliveryLogBytes is the bytes of delivery bodies the delivery log keeps for
	// redelivery (held to the plan's deliveryLogBytes).
	// +optional
	DeliveryLogBytes int64 `json:"deliveryLogBytes"`
	// PeriodStart is when the current billing period started.
	// +optional
	PeriodStart *metav1.Time `json:"periodStart,omitempty"`
}

// TenantStatus reports the tenant's namespace, effective plan, subscription and usage.
type TenantStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Namespace is the tenant's namespace.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// EffectivePlan is the Plan in force: the subscription's, else spec.plan, else the default.
	// +optional
	EffectivePlan string `json:"effectivePlan,omitempty"`
	// Subscription is the tenant's Stripe subscription, when there is one.
	// +optional
	Subscription *SubscriptionStatus `json:"subscription,omitempty"`
	// Usage counts what the tenant uses against its plan.
	// +optional
	Usage *TenantUsage `json:"usage,omitempty"`
	// Conditions describe the tenant's state; Ready is always present once reconciled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=atn,categories=aias
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name: a Tenant's name is its namespace's name and must be a DNS label (lowercase letters, digits and '-', at most 63 characters)"
// +kubebuilder:printcolumn:name="Plan",type=string,JSONPath=`.status.effectivePlan`
// +kubebuilder:printcolumn:name="Subscription",type=string,JSONPath=`.status.subscription.status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// Tenant is one customer of the platform. It owns the namespace of the same name,
// the members' access to it, and the plan and billing that limit it.
type Tenant struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec TenantSpec `json:"spec,omitempty"`
	// +optional
	Status TenantStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// TenantList is a list of Tenants.
type TenantList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Tenant `json:"items"`
}

func init() {
	register(&Tenant{}, &TenantList{})
}
