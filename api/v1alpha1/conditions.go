package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// Condition types and reasons are API: `kubectl wait --for=condition=Ready`, the console,
// the CLI and users' scripts compare them, so their string values never change. The
// controllers set them and every reader compares them through these constants only.
//
// The Run's reasons live in run_conditions.go.

// Condition types.
const (
	// ConditionReady is the condition every AIAS kind reports: True when the object is
	// usable as declared, False with a reason and a message naming what is wrong.
	ConditionReady = "Ready"

	// ConditionWithinLimits (Tenant) says whether what the tenant already has fits its
	// plan. After a downgrade it may not: nothing is removed and existing objects keep
	// working, new ones are refused, and this condition says why. It is absent while no
	// existing Plan applies (the Ready condition reports that).
	ConditionWithinLimits = "WithinLimits"
)

// Reasons shared by several kinds' Ready condition.
const (
	// ReasonReady: Ready is True on a Tenant, Workflow or WebhookEndpoint.
	ReasonReady = "Ready"
	// ReasonSecretNotFound: Ready is False because a Secret the object needs does not
	// exist: a Workflow step's env secretKeyRef (or its key), a WebhookEndpoint's
	// spec.verification.secretRef, or the endpoint's generated Secret, when its name
	// would be invalid.
	ReasonSecretNotFound = "SecretNotFound"
)

// Reasons of a Tenant's Ready condition (False).
const (
	// ReasonPlanNotFound: neither spec.plan nor the default plan names an existing Plan.
	ReasonPlanNotFound = "PlanNotFound"
	// ReasonNamespaceTerminating: the tenant's namespace is being deleted.
	ReasonNamespaceTerminating = "NamespaceTerminating"
	// ReasonRoleBindingConflict: RoleBindings the Tenant would create exist in its
	// namespace but are not managed by it, and are left alone.
	ReasonRoleBindingConflict = "RoleBindingConflict"
)

// Reasons of a Tenant's WithinLimits condition.
const (
	// ReasonWithinLimits: WithinLimits is True, usage fits the plan in force.
	ReasonWithinLimits = "WithinLimits"
	// ReasonOverLimits: WithinLimits is False, the message lists what exceeds the plan.
	ReasonOverLimits = "OverLimits"
)

// Reasons of a Workflow's Ready condition (False; also ReasonSecretNotFound). With
// several problems the first gives the reason and the message lists them all.
const (
	// ReasonServiceAccountNotFound: spec.serviceAccountName names no ServiceAccount.
	ReasonServiceAccountNotFound = "ServiceAccountNotFound"
	// ReasonConfigMapNotFound: a step's env configMapKeyRef names a missing ConfigMap or key.
	ReasonConfigMapNotFound = "ConfigMapNotFound"
	// ReasonUndeclaredParam: an expression names a parameter spec.params does not declare.
	ReasonUndeclaredParam = "UndeclaredParam"
	// ReasonInvalidConcurrencyKey: spec.concurrency.key does not compile.
	ReasonInvalidConcurrencyKey = "InvalidConcurrencyKey"
	// ReasonNotShared: the Workflow names a Secret or ServiceAccount that is not shared
	// with Workflows (LabelWorkflowAccess=true); its Runs' steps are refused.
	ReasonNotShared = "NotShared"
	// ReasonInvalidStepExpression: a step's when does not compile, its depends does not
	// parse, or it reads a step (steps.NAME, $(steps.NAME.result...)) that is not one of
	// its ancestors. Admission refuses these; the condition tells of Workflows admitted
	// before the check.
	ReasonInvalidStepExpression = "InvalidStepExpression"
)

// Reasons of a WebhookEndpoint's Ready condition (False; also ReasonSecretNotFound).
// With several problems the first gives the reason and the message lists them all.
const (
	// ReasonWorkflowNotFound: spec.workflowRef names no Workflow.
	ReasonWorkflowNotFound = "WorkflowNotFound"
	// ReasonSecretInvalid: the signing Secret holds no key the verification scheme can use.
	ReasonSecretInvalid = "SecretInvalid"
	// ReasonSecretConflict: the endpoint names no Secret and the one it would generate
	// (<endpoint>-signing) exists but is not its own.
	ReasonSecretConflict = "SecretConflict"
	// ReasonInvalidExpression: spec.filter or a spec.params expression does not compile.
	ReasonInvalidExpression = "InvalidExpression"
	// ReasonUnknownParam: spec.params fills a parameter the Workflow does not declare.
	ReasonUnknownParam = "UnknownParam"
)

// Reasons of a Schedule's Ready condition.
const (
	// ReasonScheduled: Ready is True; the message says when the next Run starts.
	ReasonScheduled = "Scheduled"
	// ReasonSuspended: Ready is True but spec.suspend holds new Runs back.
	ReasonSuspended = "Suspended"
	// ReasonMissedDeadline: Ready is True, and the latest tick was skipped because it was
	// found later than spec.startingDeadline; also a Warning event.
	ReasonMissedDeadline = "MissedStartingDeadline"
	// ReasonInvalidSchedule: Ready is False, spec.cron does not parse.
	ReasonInvalidSchedule = "InvalidSchedule"
	// ReasonInvalidTimeZone: Ready is False, spec.timeZone is not an IANA time zone.
	ReasonInvalidTimeZone = "InvalidTimeZone"
)

// Event reasons: what a controller did, reported as a Normal event on the object. They
// are never a condition's reason. (Transitions of Ready are reported as events too, with
// the condition's reason.)
const (
	// ReasonNamespaceCreated: the Tenant controller created the tenant's namespace.
	ReasonNamespaceCreated = "NamespaceCreated"
	// ReasonNamespaceAdopted: the Tenant controller labelled an existing namespace as the tenant's.
	ReasonNamespaceAdopted = "NamespaceAdopted"
	// ReasonPlanChanged: a Tenant's effective plan changed.
	ReasonPlanChanged = "PlanChanged"
	// ReasonLimitRangeCreated: the Tenant controller created the namespace's LimitRange.
	ReasonLimitRangeCreated = "LimitRangeCreated"
	// ReasonNetworkPolicyCreated: the Tenant controller created the namespace's NetworkPolicy.
	ReasonNetworkPolicyCreated = "NetworkPolicyCreated"
	// ReasonUsageDeleted: a deleted Tenant's run claims, usage counters and billing state
	// were deleted from the store.
	ReasonUsageDeleted = "UsageDeleted"
	// ReasonSecretGenerated: the WebhookEndpoint controller created the endpoint's signing Secret.
	ReasonSecretGenerated = "SecretGenerated"
	// ReasonDeliveriesDeleted: a deleted WebhookEndpoint's delivery log and ledger were
	// deleted from the store.
	ReasonDeliveriesDeleted = "DeliveriesDeleted"
	// ReasonPruned: the Workflow controller deleted a finished Run beyond the history policy.
	ReasonPruned = "Pruned"
	// ReasonRunStarted: a Schedule started the Run of a tick.
	ReasonRunStarted = "RunStarted"
)

// GetConditions and SetConditions let one helper set any kind's conditions
// (internal/conditions.Setter, after cluster-api's conditions.Setter).

// GetConditions returns the Tenant's conditions.
func (t *Tenant) GetConditions() []metav1.Condition { return t.Status.Conditions }

// SetConditions replaces the Tenant's conditions.
func (t *Tenant) SetConditions(c []metav1.Condition) { t.Status.Conditions = c }

// GetConditions returns the Workflow's conditions.
func (w *Workflow) GetConditions() []metav1.Condition { return w.Status.Conditions }

// SetConditions replaces the Workflow's conditions.
func (w *Workflow) SetConditions(c []metav1.Condition) { w.Status.Conditions = c }

// GetConditions returns the WebhookEndpoint's conditions.
func (e *WebhookEndpoint) GetConditions() []metav1.Condition { return e.Status.Conditions }

// SetConditions replaces the WebhookEndpoint's conditions.
func (e *WebhookEndpoint) SetConditions(c []metav1.Condition) { e.Status.Conditions = c }

// GetConditions returns the Schedule's conditions.
func (s *Schedule) GetConditions() []metav1.Condition { return s.Status.Conditions }

// SetConditions replaces the Schedule's conditions.
func (s *Schedule) SetConditions(c []metav1.Condition) { s.Status.Conditions = c }

// GetConditions returns the Plan's conditions.
func (p *Plan) GetConditions() []metav1.Condition { return p.Status.Conditions }

// SetConditions replaces the Plan's conditions.
func (p *Plan) SetConditions(c []metav1.Condition) { p.Status.Conditions = c }
