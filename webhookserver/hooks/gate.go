package hooks

import (
	"context"
	"fmt"
	"net/http"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// Gate admits verified deliveries, the same way wherever they come from — the hook
// listener or a redelivery from the delivery log — and before anything else happens to
// them (filtered and duplicate deliveries pay too): in order, the endpoint's suspension
// (423 Suspended), its rateLimit and its tenant plan's deliveriesPerMinute (429
// RateLimited), and the plan's runsPerMonth (429 QuotaExceeded). The buckets live in the
// process: with N webhookserver replicas behind a load balancer an endpoint receives up
// to N times its rate.
type Gate struct {
	Entitlements EntitlementSource // what binds the endpoint's namespace
	Store        *store.Store      // runs counted this period
	Now          func() time.Time

	endpoints, tenants rateLimits
}

// missingPlanRetryAfter is the Retry-After of a delivery refused because the tenant's
// plan does not exist: an operator has to act, which takes longer than a sender's retry.
const missingPlanRetryAfter = time.Hour

// EntitlementSource resolves what binds a namespace (internal/entitlements' one rule);
// nil when the namespace belongs to no Tenant.
type EntitlementSource interface {
	Entitlement(ctx context.Context, namespace string) (*entitlements.Entitlement, error)
}

// Refusal is why the Gate turned a delivery away, as the sender is told.
//
// Write answers it.
type Refusal struct {
	Status     int
	Reason     string
	Message    string
	RetryAfter time.Duration // 0: no Retry-After
	result     deliveryResult
}

// Admit decides a verified delivery of size bytes to ep: nil to go on, or why not. It
// returns the namespace's entitlement too (nil when it belongs to no Tenant or could not
// be read). The tenant's deliveriesPerMinute counts each started MiB of a body as one
// delivery, so that what a tenant's deliveries cost is bounded in bytes too.
func (g *Gate) Admit(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint, size int64) (*entitlements.Entitlement, *Refusal) {
	now := g.now()
	if ep.Spec.Suspend {
		return nil, &Refusal{Status: http.StatusLocked, Reason: "Suspended", Message: "the endpoint is suspended", result: resultSuspended}
	}
	// A failed lookup is not the sender's fault: the delivery goes on without plan limits
	// (a Tenant that cannot be read is rare and short-lived; the Run controller's claim
	// still holds runsPerMonth).
	e, err := g.Entitlements.Entitlement(ctx, ep.Namespace)
	if err != nil {
		e = nil
	}
	if e != nil && e.PlanMissing() {
		// Nothing is allowed until an operator creates the plan or moves the Tenant.
		return e, &Refusal{Status: http.StatusTooManyRequests, Reason: "QuotaExceeded", RetryAfter: missingPlanRetryAfter,
			Message: e.MissingPlanMessage("no delivery can start a Run"), result: resultQuotaExceeded}
	}
	endpointToken, wait, ok := g.endpointToken(ep, now)
	if !ok {
		return e, rateLimited(wait, "the endpoint's delivery rate is exhausted")
	}
	if l := e.Limits().DeliveriesPerMinute; e != nil && l != nil {
		burst := max(*l/10, 1)
		_, wait, ok := g.tenants.reserveN(string(e.Tenant.UID), *l, burst, mibCost(size, int(burst)), now)
		if *l == 0 {
			ok, wait = false, time.Hour // a plan of no deliveries allows none, not one a burst
		}
		if !ok {
			if endpointToken != nil {
				endpointToken.CancelAt(now) // refused after all: the endpoint's token is given back
			}
			return e, rateLimited(wait, fmt.Sprintf("%s has received its %d deliveries per minute", e.Describe(), *l))
		}
	}
	if wait, msg := g.quotaExhausted(ctx, e, now); msg != "" {
		return e, &Refusal{Status: http.StatusTooManyRequests, Reason: "QuotaExceeded", Message: msg, RetryAfter: wait, result: resultQuotaExceeded}
	}
	return e, nil
}

func (g *Gate) endpointToken(ep *aiasv1alpha1.WebhookEndpoint, now time.Time) (interface{ CancelAt(time.Time) }, time.Duration, bool) {
	rl := ep.Spec.RateLimit
	if rl == nil {
		return nil, 0, true
	}
	r, wait, ok := g.endpoints.reserve(string(ep.UID), rl.RequestsPerMinute, burstOf(rl.RequestsPerMinute, rl.Burst), now)
	if !ok {
		return nil, wait, false
	}
	return r, 0, true
}

func rateLimited(wait time.Duration, msg string) *Refusal {
	return &Refusal{Status: http.StatusTooManyRequests, Reason: "RateLimited", Message: msg, RetryAfter: wait, result: resultRateLimited}
}

// quotaExhausted answers a delivery before it becomes a Run that would only be refused:
// when the tenant has started its plan's runs for the period, the sender is told to come
// back when the next period starts. The Run controller's claim stays the authority (a
// Run created just before the limit was reached is still refused there); this check
// saves the sender a Run that cannot start and tells it when to retry.
func (g *Gate) quotaExhausted(ctx context.Context, e *entitlements.Entitlement, now time.Time) (time.Duration, string) {
	if e == nil || e.Limits().RunsPerMonth == nil {
		return 0, ""
	}
	limit := *e.Limits().RunsPerMonth
	period := e.PeriodStart(now)
	used, err := g.Store.TenantRuns(ctx, string(e.Tenant.UID), period)
	if err != nil || used < limit {
		return 0, "" // a failed count is not the sender's fault
	}
	next := period.AddDate(0, 1, 0)
	return next.Sub(now), fmt.Sprintf("%s has started its %d runs for the period; the next period starts %s",
		e.Describe(), limit, next.Format(time.RFC3339))
}

func (g *Gate) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

// Write answers the refused delivery: the status, Retry-After when there is a wait, and
// the JSON error.
func (f *Refusal) Write(w http.ResponseWriter) {
	if f.RetryAfter > 0 {
		setRetryAfter(w, f.RetryAfter)
	}
	httpjson.Error(w, f.Status, f.Reason, f.Message)
}
