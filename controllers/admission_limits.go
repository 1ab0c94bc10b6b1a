package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
)

// namespaceLimits is what admission knows about a namespace: its Tenant and plan, or none.
type namespaceLimits struct {
	// Tenant is empty when the namespace belongs to no Tenant.
	Tenant string
	// Plan is the effective plan's name; PlanMissing is set when no such Plan exists.
	Plan        string
	PlanMissing bool
	Limits      aiasv1alpha1.PlanLimits
}

// planLimitsResolver finds the plan limits in force in a namespace, from the cache.
type planLimitsResolver struct {
	Reader client.Reader
	Opts   AdmissionOptions
}

// forNamespace finds the namespace's Tenant (the Tenant of the same name, else the one the
// namespace's aias.dev/tenant label names), its effective plan (status.effectivePlan, else
// computed as the Tenant controller would) and that Plan's limits.
func (r *planLimitsResolver) forNamespace(ctx context.Context, namespace string) (namespaceLimits, error) {
	t, err := r.tenantOf(ctx, namespace)
	if err != nil || t == nil {
		return namespaceLimits{}, err
	}
	nl := namespaceLimits{Tenant: t.Name, Plan: t.Status.EffectivePlan}
	if nl.Plan == "" {
		var plans aiasv1alpha1.PlanList
		if err := r.Reader.List(ctx, &plans); err != nil {
			return nl, apierrors.NewInternalError(fmt.Errorf("listing Plans: %w", err))
		}
		nl.Plan, _ = entitlements.EffectivePlan(t, plans.Items, r.Opts.DefaultPlan, r.Opts.Now(), r.Opts.PastDueGrace)
	}
	if nl.Plan == "" {
		nl.PlanMissing = true
		return nl, nil
	}
	var p aiasv1alpha1.Plan
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: nl.Plan}, &p); err != nil {
		if apierrors.IsNotFound(err) {
			nl.PlanMissing = true
			return nl, nil
		}
		return nl, apierrors.NewInternalError(fmt.Errorf("reading Plan %s: %w", nl.Plan, err))
	}
	nl.Limits = p.Spec.Limits
	return nl, nil
}

func (r *planLimitsResolver) tenantOf(ctx context.Context, namespace string) (*aiasv1alpha1.Tenant, error) {
	var t aiasv1alpha1.Tenant
	err := r.Reader.Get(ctx, client.ObjectKey{Name: namespace}, &t)
	if err == nil {
		return &t, nil
	}
	if !apierrors.IsNotFound(err) {
		return nil, apierrors.NewInternalError(fmt.Errorf("reading Tenant %s: %w", namespace, err))
	}
	var ns corev1.Namespace
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: namespace}, &ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, apierrors.NewInternalError(fmt.Errorf("reading Namespace %s: %w", namespace, err))
	}
	name := ns.Labels[LabelTenant]
	if name == "" || name == namespace {
		return nil, nil
	}
	if err := r.Reader.Get(ctx, client.ObjectKey{Name: name}, &t); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, apierrors.NewInternalError(fmt.Errorf("reading Tenant %s: %w", name, err))
	}
	return &t, nil
}

// admitCreate answers the questions every create shares: may anything be created in a
// namespace without a Tenant, and does the Tenant's plan exist. A nil error with ok false
// means "no limits apply".
func (r *planLimitsResolver) admitCreate(ctx context.Context, kind, namespace string) (nl namespaceLimits, ok bool, err error) {
	nl, err = r.forNamespace(ctx, namespace)
	if err != nil {
		return nl, false, err
	}
	if nl.Tenant == "" {
		if r.Opts.NoTenantPolicy == NoTenantDeny {
			return nl, false, fmt.Errorf("namespace %q belongs to no Tenant: %ss may only be created in a Tenant's namespace", namespace, kind)
		}
		return nl, false, nil
	}
	if nl.PlanMissing {
		return nl, false, fmt.Errorf("the plan %q of Tenant %q does not exist: no %s can be created until it does", nl.Plan, nl.Tenant, kind)
	}
	return nl, true, nil
}

// otherNames lists the names of the objects of list in namespace other than name,
// leaving out those being deleted. It reads the cache, which may lag a create that was
// just admitted; admissionLedger counts those.
func otherNames(ctx context.Context, c client.Reader, list client.ObjectList, namespace, name string) ([]string, error) {
	if err := c.List(ctx, list, client.InNamespace(namespace)); err != nil {
		return nil, err
	}
	var names []string
	err := meta.EachListItem(list, func(o runtime.Object) error {
		if obj := o.(client.Object); obj.GetName() != name && obj.GetDeletionTimestamp().IsZero() {
			names = append(names, obj.GetName())
		}
		return nil
	})
	return names, err
}
