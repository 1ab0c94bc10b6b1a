// Package admission is the manager's validating admission webhooks: they hold creates of
// Workflows, WebhookEndpoints and Schedules to the Tenant's plan (per-namespace counts,
// steps per Workflow, step timeouts) and refuse specs the controllers could not run
// (undeclared parameters, filters or cron expressions that do not compile).
package admission

import (
	"fmt"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
)

// NoTenantPolicy says what the admission webhooks do with Workflows and WebhookEndpoints
// created in a namespace that belongs to no Tenant.
type NoTenantPolicy string

const (
	// NoTenantUnlimited admits them without limits (the default).
	NoTenantUnlimited NoTenantPolicy = "unlimited"
	// NoTenantDeny refuses to create them.
	NoTenantDeny NoTenantPolicy = "deny"
)

// Options configure the validating admission webhooks.
type Options struct {
	// NoTenantPolicy applies to namespaces that belong to no Tenant; empty means unlimited.
	NoTenantPolicy NoTenantPolicy
	// DefaultPlan and PastDueGrace are the cluster's plan settings (the same as the Tenant
	// and Run controllers'): internal/entitlements computes a Tenant's plan with them.
	DefaultPlan  string
	PastDueGrace time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// The validating webhooks. Deletes are not sent to them (always allowed). failurePolicy is
// Fail: when the manager cannot answer, creates and updates of these kinds are refused
// rather than admitted past the plan's limits.
// +kubebuilder:webhook:path=/validate-aias-dev-v1alpha1-workflow,mutating=false,failurePolicy=fail,sideEffects=None,groups=aias.dev,resources=workflows,verbs=create;update,versions=v1alpha1,name=vworkflow.aias.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/validate-aias-dev-v1alpha1-webhookendpoint,mutating=false,failurePolicy=fail,sideEffects=None,groups=aias.dev,resources=webhookendpoints,verbs=create;update,versions=v1alpha1,name=vwebhookendpoint.aias.dev,admissionReviewVersions=v1,timeoutSeconds=10
// +kubebuilder:webhook:path=/validate-aias-dev-v1alpha1-schedule,mutating=false,failurePolicy=fail,sideEffects=None,groups=aias.dev,resources=schedules,verbs=create;update,versions=v1alpha1,name=vschedule.aias.dev,admissionReviewVersions=v1,timeoutSeconds=10

// Setup registers the validating webhooks for Workflows, WebhookEndpoints and Schedules
// on the manager's webhook server. They read Tenants, Plans, Workflows and
// WebhookEndpoints from the manager's cache.
func Setup(mgr ctrl.Manager, opts Options) error {
	switch opts.NoTenantPolicy {
	case "":
		opts.NoTenantPolicy = NoTenantUnlimited
	case NoTenantUnlimited, NoTenantDeny:
	default:
		return fmt.Errorf("admission: unknown no-tenant policy %q (want %q or %q)", opts.NoTenantPolicy, NoTenantUnlimited, NoTenantDeny)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &aiasv1alpha1.Workflow{}).
		WithValidator(NewWorkflowValidator(mgr.GetClient(), opts)).
		Complete(); err != nil {
		return fmt.Errorf("setting up the workflow admission webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &aiasv1alpha1.WebhookEndpoint{}).
		WithValidator(NewWebhookEndpointValidator(mgr.GetClient(), opts)).
		Complete(); err != nil {
		return fmt.Errorf("setting up the webhookendpoint admission webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &aiasv1alpha1.Schedule{}).
		WithValidator(NewScheduleValidator(mgr.GetClient(), opts)).
		Complete(); err != nil {
		return fmt.Errorf("setting up the schedule admission webhook: %w", err)
	}
	return nil
}

func newPlanLimitsResolver(r client.Reader, opts Options) *planLimitsResolver {
	if opts.NoTenantPolicy == "" {
		opts.NoTenantPolicy = NoTenantUnlimited
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &planLimitsResolver{Opts: opts, entitlements: entitlements.Resolver{
		Reader: r, DefaultPlan: opts.DefaultPlan, PastDueGrace: opts.PastDueGrace, Now: opts.Now}}
}

// NewWorkflowValidator returns the Workflow validator reading through r (the manager's
// cache in production).
func NewWorkflowValidator(r client.Reader, opts Options) *WorkflowValidator {
	return &WorkflowValidator{count: newNamespaceCount(r, opts, "Workflow", "workflows",
		func() client.ObjectList { return &aiasv1alpha1.WorkflowList{} },
		func(l aiasv1alpha1.PlanLimits) *int32 { return l.Workflows })}
}

// NewWebhookEndpointValidator returns the WebhookEndpoint validator reading through r.
func NewWebhookEndpointValidator(r client.Reader, opts Options) *WebhookEndpointValidator {
	return &WebhookEndpointValidator{count: newNamespaceCount(r, opts, "WebhookEndpoint", "webhookEndpoints",
		func() client.ObjectList { return &aiasv1alpha1.WebhookEndpointList{} },
		func(l aiasv1alpha1.PlanLimits) *int32 { return l.WebhookEndpoints })}
}
