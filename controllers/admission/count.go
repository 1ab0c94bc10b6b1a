package admission

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// namespaceCount holds the creates of one kind to a per-namespace count of the Tenant's
// plan (spec.limits.<field>). The Workflow, WebhookEndpoint and Schedule validators each
// hold one, so the rule and its messages are the same for every counted kind.
type namespaceCount struct {
	reader  client.Reader
	limits  *planLimitsResolver
	ledger  *countLedger
	kind    string // "Workflow": in messages and the ledger's scope
	field   string // "workflows", as in spec.limits.workflows
	newList func() client.ObjectList
	limitOf func(aiasv1alpha1.PlanLimits) *int32
}

func newNamespaceCount(r client.Reader, opts Options, kind, field string,
	newList func() client.ObjectList, limitOf func(aiasv1alpha1.PlanLimits) *int32) namespaceCount {
	res := newPlanLimitsResolver(r, opts)
	return namespaceCount{reader: r, limits: res, ledger: newCountLedger(res.Opts.Now),
		kind: kind, field: field, newList: newList, limitOf: limitOf}
}

// admitCreate refuses obj's create when its namespace may hold none (no Tenant under the
// deny policy, a missing plan) or already holds the plan's count of the kind. It returns
// the namespace's limits for the caller's other checks; ok is false when no limits apply.
func (c *namespaceCount) admitCreate(ctx context.Context, obj client.Object) (nl namespaceLimits, ok bool, err error) {
	ns, name := obj.GetNamespace(), obj.GetName()
	if nl, ok, err = c.limits.admitCreate(ctx, c.kind, ns); err != nil || !ok {
		return nl, ok, err
	}
	limit := c.limitOf(nl.Limits)
	if limit == nil {
		return nl, true, nil
	}
	n, admitted, err := c.ledger.admit(c.kind+"/"+ns, name, int(*limit), func() ([]string, error) {
		return otherNames(ctx, c.reader, c.newList(), ns, name)
	})
	if err != nil {
		return nl, false, apierrors.NewInternalError(fmt.Errorf("counting the %ss of namespace %s: %w", c.kind, ns, err))
	}
	if !admitted {
		return nl, false, fmt.Errorf("plan %q allows %d %ss per namespace (spec.limits.%s) and namespace %q already holds %d",
			nl.Plan, *limit, c.kind, c.field, ns, n)
	}
	return nl, true, nil
}
