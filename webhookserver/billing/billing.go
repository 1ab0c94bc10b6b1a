// Package billing serves Stripe billing on the public listener: POST /billing/stripe
// applies subscription and invoice events to the Tenants' status.subscription.
package billing

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/stripe/stripe-go/v76/webhook"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// +kubebuilder:rbac:groups=aias.dev,resources=tenants,verbs=get;list;watch
// +kubebuilder:rbac:groups=aias.dev,resources=tenants/status,verbs=get;update;patch

// Path is the public route Stripe delivers events to.
const Path = "/billing/stripe"

// MaxBodyBytes caps a Stripe event body (Stripe's events are a few KiB).
const MaxBodyBytes = 256 << 10

// tenantCustomerIndex indexes cached Tenants by spec.billing.stripeCustomerID.
const tenantCustomerIndex = "spec.billing.stripeCustomerID"

// Stripe event types acted upon; any other type is recorded as ignored.
const (
	stripeSubscriptionCreated = "customer.subscription.created"
	stripeSubscriptionUpdated = "customer.subscription.updated"
	stripeSubscriptionDeleted = "customer.subscription.deleted"
	stripeInvoicePaid         = "invoice.paid"
	stripeInvoicePaymentFail  = "invoice.payment_failed"
)

// Outcomes of a Stripe event: the "status" of a 200 answer, the metric's outcome label and
// billing_events.outcome. Refusals (invalid, too_large, in_progress, unavailable) are
// only counted.
const (
	billingApplied     = "applied"
	billingDuplicate   = "duplicate"
	billingIgnored     = "ignored"
	billingUnmatched   = "unmatched"
	billingAmbiguous   = "ambiguous"
	billingStale       = "stale"
	billingEnded       = "ended"
	billingInvalid     = "invalid"
	billingTooLarge    = "too_large"
	billingInProgress  = "in_progress"
	billingUnavailable = "unavailable"
)

// TenantRef names a Tenant and the one object of that name it was (UID).
type TenantRef struct {
	Name string
	UID  types.UID
}

// TenantLookup finds the Tenants billed to a Stripe customer.
type TenantLookup interface {
	TenantsForCustomer(ctx context.Context, customer string) ([]TenantRef, error)
}

// Server handles POST /billing/stripe: Stripe events about subscriptions and
// invoices, verified with the endpoint's signing secret, applied at most once (by event
// id) and in order per subscription (state.go) to the records billing keeps per Tenant
// UID, from which the Tenant's status.subscription is computed. The Tenant controller
// derives the effective plan from it.
type Server struct {
	// SecretFile holds the endpoint's signing secret (whsec_...). It is read on every
	// event, so a rotated Secret takes effect without a restart (during a roll Stripe
	// signs with both secrets).
	SecretFile string
	Tenants    TenantLookup
	// Client reads Tenants fresh and patches their status.
	Client client.Client
	Store  *store.Store
	Log    logr.Logger
	// ClaimTimeout is how long an unfinished claim blocks redeliveries of its event.
	ClaimTimeout time.Duration
}

type billingAnswer struct {
	Status string `json:"status"`
	Event  string `json:"event,omitempty"`
	Tenant string `json:"tenant,omitempty"`
}

// ServeHTTP handles one Stripe delivery. Neither the body nor the signature is ever logged.
func (b *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpjson.Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "Stripe events are POSTed")
		return
	}
	if r.ContentLength > MaxBodyBytes {
		b.refuse(w, "", "", billingTooLarge, http.StatusRequestEntityTooLarge, "TooLarge", fmt.Sprintf("the body exceeds %d bytes", MaxBodyBytes))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			b.refuse(w, "", "", billingTooLarge, http.StatusRequestEntityTooLarge, "TooLarge", fmt.Sprintf("the body exceeds %d bytes", MaxBodyBytes))
			return
		}
		b.refuse(w, "", "", billingInvalid, http.StatusBadRequest, "BadBody", "the body could not be read")
		return
	}
	secret, err := os.ReadFile(b.SecretFile)
	if err != nil || len(strings.TrimSpace(string(secret))) == 0 {
		b.Log.Error(err, "reading the Stripe webhook signing secret", "file", b.SecretFile)
		w.Header().Set("Retry-After", "30")
		b.refuse(w, "", "", billingUnavailable, http.StatusServiceUnavailable, "Unavailable", "the signing secret is unavailable")
		return
	}
	// API-version mismatch is ignored on purpose: the signature is what matters, and only
	// a few long-stable fields are read (leniently: see parseStripeObject), so events
	// rendered for another API version than stripe-go's pinned one are still understood.
	ev, err := webhook.ConstructEventWithOptions(body, r.Header.Get("Stripe-Signature"), strings.TrimSpace(string(secret)),
		webhook.ConstructEventOptions{IgnoreAPIVersionMismatch: true})
	if err != nil {
		switch {
		case errors.Is(err, webhook.ErrNotSigned):
			b.refuse(w, "", "", billingInvalid, http.StatusBadRequest, "MissingSignature", "the Stripe-Signature header is missing")
		case errors.Is(err, webhook.ErrInvalidHeader), errors.Is(err, webhook.ErrNoValidSignature):
			b.refuse(w, "", "", billingInvalid, http.StatusBadRequest, "InvalidSignature", "the Stripe-Signature header does not match the body")
		case errors.Is(err, webhook.ErrTooOld):
			b.refuse(w, "", "", billingInvalid, http.StatusBadRequest, "StaleSignature", "the Stripe-Signature timestamp is outside the tolerance")
		default:
			b.refuse(w, "", "", billingInvalid, http.StatusBadRequest, "Malformed", "the event could not be parsed")
		}
		return
	}
	typ := string(ev.Type)
	if ev.ID == "" || ev.Data == nil {
		b.refuse(w, typ, "", billingInvalid, http.StatusBadRequest, "Malformed", "the event has no id or data")
		return
	}
	obj := parseStripeObject(ev.Data.Raw)
	created := time.Unix(ev.Created, 0).UTC()
	e := store.BillingEvent{ID: ev.ID, Type: typ, Customer: obj.customer(), Created: created}

	claimed, err := b.Store.ClaimBillingEvent(r.Context(), e, b.ClaimTimeout)
	if err != nil {
		b.Log.Error(err, "claiming billing event", "event", ev.ID)
		w.Header().Set("Retry-After", "5")
		b.refuse(w, typ, ev.ID, billingUnavailable, http.StatusServiceUnavailable, "Unavailable", "the event could not be recorded; retry later")
		return
	}
	if !claimed {
		prev, err := b.Store.GetBillingEvent(r.Context(), ev.ID)
		if err == nil && prev.ProcessedAt != nil {
			b.answer(w, typ, ev.ID, prev.Tenant, billingDuplicate)
			return
		}
		// Another delivery of this event is being processed right now (or was released
		// a moment ago): a non-2xx makes Stripe deliver it again later.
		w.Header().Set("Retry-After", "10")
		b.refuse(w, typ, ev.ID, billingInProgress, http.StatusConflict, "InProgress", "another delivery of this event is being processed")
		return
	}

	ref, outcome, err := b.process(r.Context(), ev.ID, typ, created, obj)
	tenant := ref.Name
	if err == nil {
		err = b.Store.FinishBillingEvent(r.Context(), ev.ID, string(ref.UID), tenant, outcome)
	}
	if err != nil {
		// Give the event back so that Stripe's retry processes it. Applying it twice is
		// harmless: the event is then found in its subscription's history.
		if rerr := b.Store.ReleaseBillingEvent(context.WithoutCancel(r.Context()), ev.ID); rerr != nil {
			b.Log.Error(rerr, "releasing billing event", "event", ev.ID)
		}
		b.Log.Error(err, "processing billing event", "event", ev.ID, "type", typ, "tenant", tenant)
		w.Header().Set("Retry-After", "10")
		b.refuse(w, typ, ev.ID, billingUnavailable, http.StatusServiceUnavailable, "Unavailable", "the event could not be applied; retry later")
		return
	}
	b.answer(w, typ, ev.ID, tenant, outcome)
}

// process applies one claimed event and returns the Tenant it concerned (UID, name) and
// the outcome.
func (b *Server) process(ctx context.Context, eventID, typ string, created time.Time, obj stripeObject) (TenantRef, string, error) {
	customer := obj.customer()
	subID, ev, ok := subscriptionEvent(eventID, typ, created.Unix(), obj)
	if !ok || customer == "" {
		return TenantRef{}, billingIgnored, nil // another type, a one-off invoice, no customer
	}
	refs, err := b.Tenants.TenantsForCustomer(ctx, customer)
	if err != nil {
		return TenantRef{}, "", err
	}
	switch len(refs) {
	case 0:
		return TenantRef{}, billingUnmatched, nil
	case 1:
	default:
		// Two Tenants claim one customer: applying to either would be a guess.
		b.Log.Info("Stripe customer is linked to several Tenants; event not applied", "event", eventID, "tenants", refs)
		return TenantRef{}, billingAmbiguous, nil
	}
	ref := refs[0]
	outcome := ""
	err = b.Store.ApplyTenantBilling(ctx, string(ref.UID), ref.Name, eventID, func(ctx context.Context, kept []store.BillingSubscription) ([]store.BillingSubscription, string, error) {
		var t aiasv1alpha1.Tenant
		if err := b.Client.Get(ctx, types.NamespacedName{Name: ref.Name}, &t); err != nil {
			return nil, "", err
		}
		if t.UID != ref.UID {
			return nil, "", errTenantReplaced // the cache lags: Stripe's retry finds the new one
		}
		if t.Spec.Billing == nil || t.Spec.Billing.StripeCustomerID != customer || t.DeletionTimestamp != nil {
			// Relinked since the cache was read, or being deleted (its finalizer deletes
			// what billing keeps for it: nothing is added after).
			outcome = billingUnmatched
			return nil, "", nil
		}
		return b.applyToTenant(ctx, &t, kept, subID, ev, &outcome)
	})
	if err != nil {
		return ref, "", err
	}
	if outcome == billingUnmatched {
		return TenantRef{}, outcome, nil
	}
	return ref, outcome, nil
}

// errTenantReplaced: the Tenant found by customer was deleted and re-created meanwhile.
var errTenantReplaced = errors.New("the Tenant was re-created since it was looked up")

// applyToTenant places ev in its subscription's record among the records kept for Tenant t,
// and brings t's status.subscription to the subscription it should show. It returns the
// records to store and that subscription's id; *outcome says what became of ev.
func (b *Server) applyToTenant(ctx context.Context, t *aiasv1alpha1.Tenant, kept []store.BillingSubscription,
	subID string, ev subEvent, outcome *string) ([]store.BillingSubscription, string, error) {
	records := make(tenantRecords, len(kept)+1)
	for _, k := range kept {
		var r subRecord
		if err := json.Unmarshal(k.Record, &r); err != nil {
			return nil, "", fmt.Errorf("reading the billing record of subscription %s: %w", k.ID, err)
		}
		records[k.ID] = &r
	}
	var changed []string
	if cur := t.Status.Subscription; len(kept) == 0 && cur != nil && cur.ID != "" {
		// The first event for this Tenant: start from what its status shows.
		r := seedRecord(cur)
		records[cur.ID], changed = &r, append(changed, cur.ID)
	}
	if *outcome = records.place(subID, ev); *outcome == placedApplied && !slices.Contains(changed, subID) {
		changed = append(changed, subID)
	}
	current, ok := records.current()
	if want := current.status(); ok && (t.Status.Subscription == nil || !sameSubscription(*t.Status.Subscription, want)) {
		if err := b.patchSubscription(ctx, t, &want); err != nil {
			return nil, "", err
		}
	}
	out := make([]store.BillingSubscription, 0, len(changed))
	for _, id := range changed {
		r := records[id]
		raw, err := json.Marshal(r)
		if err != nil {
			return nil, "", err
		}
		last := r.last()
		out = append(out, store.BillingSubscription{ID: id, LastEventCreated: time.Unix(last.Created, 0).UTC(), LastEventID: last.ID,
			Ended: r.state().Ended, Record: raw})
	}
	return out, current.ID, nil
}

// sameSubscription compares what billing writes to status.subscription.
func sameSubscription(a, b aiasv1alpha1.SubscriptionStatus) bool {
	sameTime := func(x, y *metav1.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(y)) }
	return a.ID == b.ID && a.Status == b.Status && a.PriceID == b.PriceID && sameTime(a.CurrentPeriodEnd, b.CurrentPeriodEnd) &&
		sameTime(a.PastDueSince, b.PastDueSince) && sameTime(a.UpdatedAt, b.UpdatedAt)
}

// patchSubscription writes status.subscription alone, with a merge patch (absent fields
// are explicitly removed), never touching spec or the rest of the status.
func (b *Server) patchSubscription(ctx context.Context, t *aiasv1alpha1.Tenant, sub *aiasv1alpha1.SubscriptionStatus) error {
	timeOrNil := func(t *metav1.Time) any {
		if t == nil {
			return nil
		}
		return t.UTC().Format(time.RFC3339)
	}
	patch := map[string]any{"status": map[string]any{"subscription": map[string]any{
		"id":               sub.ID,
		"status":           sub.Status,
		"priceID":          sub.PriceID,
		"currentPeriodEnd": timeOrNil(sub.CurrentPeriodEnd),
		"pastDueSince":     timeOrNil(sub.PastDueSince),
		"updatedAt":        timeOrNil(sub.UpdatedAt),
	}}}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	return b.Client.Status().Patch(ctx, t, client.RawPatch(types.MergePatchType, data))
}

func (b *Server) answer(w http.ResponseWriter, typ, id, tenant, outcome string) {
	billingEvents.WithLabelValues(metricEventType(typ), outcome).Inc()
	b.Log.V(1).Info("billing event", "event", id, "type", typ, "tenant", tenant, "outcome", outcome)
	httpjson.Write(w, http.StatusOK, billingAnswer{Status: outcome, Event: id, Tenant: tenant})
}

func (b *Server) refuse(w http.ResponseWriter, typ, id, outcome string, status int, reason, msg string) {
	billingEvents.WithLabelValues(metricEventType(typ), outcome).Inc()
	b.Log.V(1).Info("billing event refused", "event", id, "type", typ, "outcome", outcome, "status", status, "reason", reason)
	httpjson.Error(w, status, reason, msg)
}

// metricEventType bounds the type label: the handled types by name, anything else "other".
func metricEventType(typ string) string {
	switch typ {
	case "", stripeSubscriptionCreated, stripeSubscriptionUpdated, stripeSubscriptionDeleted, stripeInvoicePaid, stripeInvoicePaymentFail:
		return typ
	}
	return "other"
}

// cachedTenants looks Tenants up by customer in the informer cache's index.
type cachedTenants struct{ reader client.Reader }

func (c cachedTenants) TenantsForCustomer(ctx context.Context, customer string) ([]TenantRef, error) {
	var list aiasv1alpha1.TenantList
	if err := c.reader.List(ctx, &list, client.MatchingFields{tenantCustomerIndex: customer}); err != nil {
		return nil, err
	}
	refs := make([]TenantRef, 0, len(list.Items))
	for _, t := range list.Items {
		refs = append(refs, TenantRef{Name: t.Name, UID: t.UID})
	}
	return refs, nil
}

// indexTenantCustomer is the tenantCustomerIndex function.
func indexTenantCustomer(obj client.Object) []string {
	t, ok := obj.(*aiasv1alpha1.Tenant)
	if !ok || t.Spec.Billing == nil || t.Spec.Billing.StripeCustomerID == "" {
		return nil
	}
	return []string{t.Spec.Billing.StripeCustomerID}
}

// New registers the Tenant index on the public listener's cache c (before it starts) and
// checks that the signing secret in secretFile is readable. cl reads Tenants fresh and
// patches their status.
func New(ctx context.Context, secretFile string, c cache.Cache, cl client.Client, st *store.Store) (*Server, error) {
	if secret, err := os.ReadFile(secretFile); err != nil {
		return nil, fmt.Errorf("reading the Stripe webhook secret: %w", err)
	} else if len(strings.TrimSpace(string(secret))) == 0 {
		return nil, fmt.Errorf("the Stripe webhook secret file %s is empty", secretFile)
	}
	if err := c.IndexField(ctx, &aiasv1alpha1.Tenant{}, tenantCustomerIndex, indexTenantCustomer); err != nil {
		return nil, fmt.Errorf("indexing Tenants: %w", err)
	}
	return &Server{SecretFile: secretFile, Tenants: cachedTenants{reader: c}, Client: cl, Store: st,
		Log: logr.Discard(), ClaimTimeout: store.DefaultBillingClaimTimeout}, nil
}
