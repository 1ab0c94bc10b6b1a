package v1alpha1

// The labels, annotations and finalizers AIAS puts on objects: what users select on
// (`kubectl get jobs -l aias.dev/run=...`) and what AIAS's processes agree on. This file
// is their one home; nothing else spells an aias.dev/ key.
const (
	// LabelRun is on every step Job and its Pods: the Run's name.
	LabelRun = "aias.dev/run"
	// LabelRunUID is on every step Job, its Pods and the Run's token Secret: the Run's
	// UID, which tells a child of a deleted Run from one of its same-named successor.
	LabelRunUID = "aias.dev/run-uid"
	// LabelStep is on every step Job and its Pods: the step's name.
	LabelStep = "aias.dev/step"
	// LabelAttempt is on every step Job and its Pods: the attempt number, from 1.
	LabelAttempt = "aias.dev/attempt"
	// LabelItem is on the Jobs and Pods of a forEach step's items: the item's index, from 0.
	LabelItem = "aias.dev/item"
	// LabelWebhookEndpoint is on the Runs a delivery created and on the signing Secret the
	// controller generated: the endpoint's name (hash-shortened when it is no valid label
	// value).
	LabelWebhookEndpoint = "aias.dev/webhookendpoint"
	// LabelTenant is on a Tenant's namespace and the RoleBindings the Tenant controller
	// keeps there: the Tenant's name. It marks what the controller manages; which Tenant
	// a namespace belongs to is decided by name alone (internal/entitlements).
	LabelTenant = "aias.dev/tenant"

	// LabelWorkflowAccess, with the value WorkflowAccessAllowed, shares a Secret or a
	// ServiceAccount with the namespace's Workflows: a step may read the Secret through
	// env valueFrom.secretKeyRef, and a Workflow may run as the ServiceAccount, only when
	// it carries this label. Whoever may write Workflows is often not allowed to read
	// Secrets or act as ServiceAccounts; the label is set by someone who is.
	LabelWorkflowAccess = "aias.dev/workflow-access"
	// WorkflowAccessAllowed is the value of LabelWorkflowAccess that shares the object.
	WorkflowAccessAllowed = "true"

	// AnnotationCordonedByNodeAgent is on a Node the test and development node agent
	// (internal/testrig/nodeagent) cordoned when it stopped, so that nothing is scheduled to a
	// node nobody runs; the next agent of that Node uncordons it.
	AnnotationCordonedByNodeAgent = "aias.dev/cordoned-by-node-agent"

	// LabelSchedule is on every Run a Schedule started: the Schedule's name.
	LabelSchedule = "aias.dev/schedule"
	// LabelParentRun is on every Run a workflowRef step started: the parent Run's name.
	LabelParentRun = "aias.dev/parent-run"
	// LabelDepth is on every such child Run: how deep it nests (1 for a child of a Run
	// that has no parent).
	LabelDepth = "aias.dev/depth"

	// AnnotationSupersededBy is set, with spec.cancel, on a Run that a newer Run of the
	// same concurrency key replaced (policy Replace); its value names the newer Run, and
	// the canceled Run ends with reason Superseded.
	AnnotationSupersededBy = "aias.dev/superseded-by"
	// AnnotationApprovalDecided is set by the user API on a Run after it recorded a
	// decision on one of its approval gates (value: the step and the time), to wake the
	// Run controller. It carries no decision: those are read from the store, where only
	// the user API writes them after its access checks, so setting it decides nothing.
	AnnotationApprovalDecided = "aias.dev/approval-decided"

	// RunFinalizer holds a Run until its rows in PostgreSQL (artifacts, logs, run index)
	// and its step Jobs are gone. The Run controller adds it; AIAS's own creators (the
	// hook listener, replay) set it at create, which saves the controller a write.
	RunFinalizer = "aias.dev/run-cleanup"

	// EndpointFinalizer holds a WebhookEndpoint until its delivery log (bodies included)
	// and its delivery ledger rows are deleted from PostgreSQL. The WebhookEndpoint
	// controller adds it.
	EndpointFinalizer = "aias.dev/endpoint-cleanup"

	// TenantFinalizer holds a Tenant until what PostgreSQL keeps for it (its run claims,
	// usage counters and billing state, keyed by the Tenant's UID) is deleted. The Tenant
	// controller adds it.
	TenantFinalizer = "aias.dev/tenant-cleanup"

	// LabelManagedBy marks the objects AIAS created, with ManagedByAias.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByAias is the value of LabelManagedBy.
	ManagedByAias = "aias"
)
