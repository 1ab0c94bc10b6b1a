package admission

import (
	"context"
	"fmt"

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
	Opts         Options
	entitlements entitlements.Resolver
}

// forNamespace finds the namespace's Tenant and effective plan by the one rule of
// internal/entitlements, and that Plan's limits.
func (r *planLimitsResolver) forNamespace(ctx context.Context, namespace string) (namespaceLimits, error) {
	e, err := r.entitlements.ForNamespace(ctx, namespace)
	if err != nil {
		return namespaceLimits{}, apierrors.NewInternalError(err)
	}
	if e == nil {
		return namespaceLimits{}, nil
	}
	return namespaceLimits{Tenant: e.Tenant.Name, Plan: e.PlanName, PlanMissing: e.Plan == nil, Limits: e.Limits()}, nil
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
// just admitted; countLedger counts those.
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
