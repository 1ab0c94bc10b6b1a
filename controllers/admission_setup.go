package controllers

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

// AdmissionOptions configure the validating admission webhooks.
type AdmissionOptions struct {
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

// SetupAdmission registers the validating webhooks for Workflows and WebhookEndpoints on
// the manager's webhook server. They read Tenants, Plans, Workflows and
// WebhookEndpoints from the manager's cache.
func SetupAdmission(mgr ctrl.Manager, opts AdmissionOptions) error {
	switch opts.NoTenantPolicy {
	case "":
		opts.NoTenantPolicy = NoTenantUnlimited
	case NoTenantUnlimited, NoTenantDeny:
	default:
		return fmt.Errorf("admission: unknown no-tenant policy %q (want %q or %q)", opts.NoTenantPolicy, NoTenantUnlimited, NoTenantDeny)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &aiasv1alpha1.Workflow{}).
		WithValidator(NewWorkflowAdmission(mgr.GetClient(), opts)).
		Complete(); err != nil {
		return fmt.Errorf("setting up the workflow admission webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &aiasv1alpha1.WebhookEndpoint{}).
		WithValidator(NewWebhookEndpointAdmission(mgr.GetClient(), opts)).
		Complete(); err != nil {
		return fmt.Errorf("setting up the webhookendpoint admission webhook: %w", err)
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &aiasv1alpha1.Schedule{}).
		WithValidator(NewScheduleAdmission(mgr.GetClient(), opts)).
		Complete(); err != nil {
		return fmt.Errorf("setting up the schedule admission webhook: %w", err)
	}
	return nil
}

func newPlanLimitsResolver(r client.Reader, opts AdmissionOptions) *planLimitsResolver {
	if opts.NoTenantPolicy == "" {
		opts.NoTenantPolicy = NoTenantUnlimited
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &planLimitsResolver{Opts: opts, entitlements: entitlements.Resolver{
		Reader: r, DefaultPlan: opts.DefaultPlan, PastDueGrace: opts.PastDueGrace, Now: opts.Now}}
}

// NewWorkflowAdmission returns the Workflow validator reading through r (the manager's
// cache in production).
func NewWorkflowAdmission(r client.Reader, opts AdmissionOptions) *WorkflowAdmission {
	return &WorkflowAdmission{count: newNamespaceCount(r, opts, "Workflow", "workflows",
		func() client.ObjectList { return &aiasv1alpha1.WorkflowList{} },
		func(l aiasv1alpha1.PlanLimits) *int32 { return l.Workflows })}
}

// NewWebhookEndpointAdmission returns the WebhookEndpoint validator reading through r.
func NewWebhookEndpointAdmission(r client.Reader, opts AdmissionOptions) *WebhookEndpointAdmission {
	return &WebhookEndpointAdmission{count: newNamespaceCount(r, opts, "WebhookEndpoint", "webhookEndpoints",
		func() client.ObjectList { return &aiasv1alpha1.WebhookEndpointList{} },
		func(l aiasv1alpha1.PlanLimits) *int32 { return l.WebhookEndpoints })}
}
