package hooks

import (
	"context"
	"crypto/sha256"
	"net/http"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/intake"
)

// logEntry collects, as deliver goes, what the delivery log says of one request; finish
// and respond write it. Only an endpoint that exists gets a log.
type logEntry struct {
	ep       *aiasv1alpha1.WebhookEndpoint
	received time.Time
	size     int64
	sum      []byte
	verified bool
	// Kept for a redelivery when retention > 0 (verified deliveries only); read only when
	// the log row is written with it.
	body        *intake.Body
	contentType string
	headers     map[string]string
	retention   time.Duration
	// bodyBudget is the tenant plan's deliveryLogBytes (nil: none).
	bodyBudget *int64
}

type logEntryKey struct{}

func withLogEntry(r *http.Request, e *logEntry) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), logEntryKey{}, e))
}

func logEntryOf(r *http.Request) *logEntry {
	e, _ := r.Context().Value(logEntryKey{}).(*logEntry)
	return e
}

// setBody notes a verified delivery's body and digest.
func (e *logEntry) setBody(b *intake.Body, sum [sha256.Size]byte) {
	e.sum, e.body = sum[:], b
}

// DefaultDeliveryRetention applies when the tenant's plan sets no deliveryRetention (or
// the namespace has no plan).
const DefaultDeliveryRetention = 7 * 24 * time.Hour

// verifiedDelivery notes that the delivery verified and what of it to keep, as the
// namespace's entitlement e says (nil: no plan).
func (s *Server) verifiedDelivery(r *http.Request, e *logEntry, ent *entitlements.Entitlement) {
	e.verified = true
	e.contentType = r.Header.Get("Content-Type")
	e.headers = deliveryexpr.VisibleHeaders(&e.ep.Spec, r.Header)
	e.retention = DefaultDeliveryRetention
	if ent != nil {
		if d := ent.Limits().DeliveryRetention; d != nil {
			e.retention = d.Duration
		}
		e.bodyBudget = ent.Limits().DeliveryLogBytes
	}
}

// logDelivery queues the request's log row: the answer never waits for it to be written,
// and a failed write is only logged (the ledger, not the log, keeps deliveries exactly
// once). A full queue is the caller's to answer (store.ErrQueueFull): the listener never
// buffers more than the queue's bounds.
func (s *Server) logDelivery(r *http.Request, deliveryID string, result deliveryResult, status int, reason, run string) error {
	e := logEntryOf(r)
	if e == nil || e.ep == nil || s.Store == nil {
		return nil
	}
	d := store.LoggedDelivery{
		Namespace: e.ep.Namespace, Endpoint: e.ep.Name, EndpointUID: string(e.ep.UID), ReceivedAt: e.received,
		Verified: e.verified, DeliveryID: deliveryID, Outcome: string(result), Reason: reason, Status: status,
		BodySize: e.size, BodySHA256: e.sum, RunName: run,
	}
	// A body larger than the log's queue can hold is not kept (the row is): joining it
	// only to have the queue refuse it would hold it twice for nothing.
	if e.verified && e.retention > 0 && e.body != nil && !e.body.TooLarge && e.body.Size <= s.Store.MaxLoggedBodyBytes() {
		until := e.received.Add(e.retention)
		d.Body, d.ContentType, d.Headers, d.BodyExpiresAt, d.BodyBudget = e.body.Bytes(), e.contentType, e.headers, &until, e.bodyBudget
	}
	return s.Store.EnqueueDeliveryLog(d)
}
