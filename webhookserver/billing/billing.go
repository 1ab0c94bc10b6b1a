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
	billingInvalid     = "invalid"
	billingTooLarge    = "too_large"
	billingInProgress  = "in_progress"
	billingUnavailable = "unavailable"
)

// TenantLookup finds the Tenants billed to a Stripe customer.
type TenantLookup interface {
	TenantsForCustomer(ctx context.Context, customer string) ([]string, error)
}

// Server handles POST /billing/stripe: Stripe events about subscriptions and
// invoices, verified with the endpoint's signing secret, applied at most once (by event
// id) and in order (by event creation time, per Tenant) to the Tenant's
// status.subscription. The Tenant controller derives the effective plan from it.
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

	tenant, outcome, err := b.process(r.Context(), ev.ID, typ, created, obj)
	if err == nil {
		err = b.Store.FinishBillingEvent(r.Context(), ev.ID, tenant, outcome)
	}
	if err != nil {
		// Give the event back so that Stripe's retry processes it. Applying it twice is
		// harmless: the patch is absolute and events of the same second are not stale.
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

// process applies one claimed event and returns the Tenant it concerned and the outcome.
func (b *Server) process(ctx context.Context, eventID, typ string, created time.Time, obj stripeObject) (string, string, error) {
	switch typ {
	case stripeSubscriptionCreated, stripeSubscriptionUpdated, stripeSubscriptionDeleted, stripeInvoicePaid, stripeInvoicePaymentFail:
	default:
		return "", billingIgnored, nil
	}
	customer := obj.customer()
	if customer == "" {
		return "", billingIgnored, nil
	}
	names, err := b.Tenants.TenantsForCustomer(ctx, customer)
	if err != nil {
		return "", "", err
	}
	switch len(names) {
	case 0:
		return "", billingUnmatched, nil
	case 1:
	default:
		// Two Tenants claim one customer: applying to either would be a guess.
		b.Log.Info("Stripe customer is linked to several Tenants; event not applied", "event", eventID, "tenants", names)
		return "", billingAmbiguous, nil
	}
	name := names[0]
	outcome := billingIgnored
	stale, err := b.Store.ApplyTenantBilling(ctx, name, eventID, created, func(ctx context.Context) (bool, any, error) {
		var t aiasv1alpha1.Tenant
		if err := b.Client.Get(ctx, types.NamespacedName{Name: name}, &t); err != nil {
			return false, nil, err
		}
		if t.Spec.Billing == nil || t.Spec.Billing.StripeCustomerID != customer {
			return false, nil, nil // relinked since the cache was read
		}
		sub, ok := nextSubscription(t.Status.Subscription, typ, created, obj)
		if !ok {
			return false, nil, nil
		}
		if err := b.patchSubscription(ctx, &t, sub); err != nil {
			return false, nil, err
		}
		outcome = billingApplied
		return true, sub, nil
	})
	if err != nil {
		return name, "", err
	}
	if stale {
		return name, billingStale, nil
	}
	return name, outcome, nil
}

// nextSubscription computes the Tenant's subscription status after an event; false when
// the event does not concern the Tenant's subscription.
func nextSubscription(cur *aiasv1alpha1.SubscriptionStatus, typ string, created time.Time, obj stripeObject) (*aiasv1alpha1.SubscriptionStatus, bool) {
	at := metav1.NewTime(created)
	var next aiasv1alpha1.SubscriptionStatus
	if cur != nil {
		next = *cur.DeepCopy()
	}
	switch typ {
	case stripeSubscriptionCreated, stripeSubscriptionUpdated, stripeSubscriptionDeleted:
		if obj.ID == "" {
			return nil, false
		}
		// The end of a subscription that is not the current one (a customer who
		// switched subscriptions) leaves the current one alone.
		if typ == stripeSubscriptionDeleted && cur != nil && cur.ID != "" && cur.ID != obj.ID && cur.Status != "canceled" {
			return nil, false
		}
		if next.ID != obj.ID {
			next = aiasv1alpha1.SubscriptionStatus{}
		}
		next.ID = obj.ID
		next.Status = obj.Status
		if typ == stripeSubscriptionDeleted {
			next.Status = "canceled"
		}
		if p := obj.priceID(); p != "" || next.PriceID == "" {
			next.PriceID = p
		}
		if end := obj.currentPeriodEnd(); end > 0 {
			t := metav1.NewTime(time.Unix(end, 0).UTC())
			next.CurrentPeriodEnd = &t
		}
	case stripeInvoicePaid, stripeInvoicePaymentFail:
		sub := obj.subscription()
		if sub == "" {
			return nil, false // a one-off invoice
		}
		if next.ID != "" && next.ID != sub {
			return nil, false
		}
		if typ == stripeInvoicePaid {
			if next.ID == "" {
				return nil, false // only a known subscription is marked active
			}
			next.Status = "active"
		} else {
			next.ID = sub
			next.Status = "past_due"
		}
	default:
		return nil, false
	}
	switch {
	case next.Status != "past_due" && next.Status != "unpaid":
		next.PastDueSince = nil
	case next.PastDueSince == nil:
		next.PastDueSince = &at
	}
	next.UpdatedAt = &at
	return &next, true
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

// stripeObject is the few fields read from an event's data.object (a subscription or an
// invoice), parsed leniently so that API versions before and after Stripe's 2025 moves
// (current_period_end onto items, invoice.subscription under parent) both work.
type stripeObject struct {
	ID               string          `json:"id"`
	Object           string          `json:"object"`
	Customer         json.RawMessage `json:"customer"`
	Status           string          `json:"status"`
	CurrentPeriodEnd int64           `json:"current_period_end"`
	Created          int64           `json:"created"`
	Items            struct {
		Data []struct {
			Price struct {
				ID string `json:"id"`
			} `json:"price"`
			CurrentPeriodEnd int64 `json:"current_period_end"`
		} `json:"data"`
	} `json:"items"`
	Subscription json.RawMessage `json:"subscription"`
	Parent       struct {
		SubscriptionDetails struct {
			Subscription json.RawMessage `json:"subscription"`
		} `json:"subscription_details"`
	} `json:"parent"`
}

// parseStripeObject never fails: what cannot be read stays empty.
func parseStripeObject(raw json.RawMessage) stripeObject {
	var o stripeObject
	if err := json.Unmarshal(raw, &o); err != nil {
		// Retry field by field, so one field of an unexpected shape spoils only itself.
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(raw, &fields)
		for k, v := range fields {
			one, _ := json.Marshal(map[string]json.RawMessage{k: v})
			_ = json.Unmarshal(one, &o)
		}
	}
	return o
}

func (o stripeObject) customer() string { return expandableID(o.Customer) }

func (o stripeObject) subscription() string {
	if id := expandableID(o.Subscription); id != "" {
		return id
	}
	return expandableID(o.Parent.SubscriptionDetails.Subscription)
}

func (o stripeObject) priceID() string {
	if len(o.Items.Data) == 0 {
		return ""
	}
	return o.Items.Data[0].Price.ID
}

func (o stripeObject) currentPeriodEnd() int64 {
	if o.CurrentPeriodEnd > 0 {
		return o.CurrentPeriodEnd
	}
	if len(o.Items.Data) > 0 {
		return o.Items.Data[0].CurrentPeriodEnd
	}
	return 0
}

// expandableID reads a Stripe reference: an id string or an expanded object with an id.
func expandableID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var obj struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &obj) == nil {
		return obj.ID
	}
	return ""
}

// cachedTenants looks Tenants up by customer in the informer cache's index.
type cachedTenants struct{ reader client.Reader }

func (c cachedTenants) TenantsForCustomer(ctx context.Context, customer string) ([]string, error) {
	var list aiasv1alpha1.TenantList
	if err := c.reader.List(ctx, &list, client.MatchingFields{tenantCustomerIndex: customer}); err != nil {
		return nil, err
	}
	names := make([]string, 0, len(list.Items))
	for _, t := range list.Items {
		names = append(names, t.Name)
	}
	return names, nil
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
