package hooks

import (
	"context"
	"crypto/sha256"
	"net/http"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
	"github.com/aias-dev/aias/internal/store"
)

// logTimeout bounds a background delivery-log write.
const logTimeout = 30 * time.Second

// logEntry collects, as deliver goes, what the delivery log says of one request; finish
// and respond write it. Only an endpoint that exists gets a log.
type logEntry struct {
	ep       *aiasv1alpha1.WebhookEndpoint
	received time.Time
	size     int64
	sum      []byte
	verified bool
	// Kept for a redelivery when retention > 0 (verified deliveries only).
	body        []byte
	contentType string
	headers     map[string]string
	retention   time.Duration
}

type logEntryKey struct{}

func withLogEntry(r *http.Request, e *logEntry) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), logEntryKey{}, e))
}

func logEntryOf(r *http.Request) *logEntry {
	e, _ := r.Context().Value(logEntryKey{}).(*logEntry)
	return e
}

func (e *logEntry) setBody(b []byte) {
	sum := sha256.Sum256(b)
	e.size, e.sum, e.body = int64(len(b)), sum[:], b
}

// DefaultDeliveryRetention applies when the tenant's plan sets no deliveryRetention (or
// the namespace has no plan).
const DefaultDeliveryRetention = 7 * 24 * time.Hour

// verifiedDelivery notes that the delivery verified and what of it to keep.
func (s *Server) verifiedDelivery(r *http.Request, e *logEntry) {
	e.verified = true
	e.contentType = r.Header.Get("Content-Type")
	e.headers = deliveryexpr.VisibleHeaders(&e.ep.Spec, r.Header)
	e.retention = DefaultDeliveryRetention
	if ent, err := s.Endpoints.Entitlement(r.Context(), e.ep.Namespace); err == nil && ent != nil {
		if d := ent.Limits().DeliveryRetention; d != nil {
			e.retention = d.Duration
		}
	}
}

// logDelivery writes the request's log row in the background: the answer never waits
// for it, and a failure is only logged (the ledger, not the log, keeps deliveries
// exactly once).
func (s *Server) logDelivery(r *http.Request, deliveryID string, result deliveryResult, status int, reason, run string) {
	e := logEntryOf(r)
	if e == nil || e.ep == nil || s.Store == nil {
		return
	}
	d := store.LoggedDelivery{
		Namespace: e.ep.Namespace, Endpoint: e.ep.Name, EndpointUID: string(e.ep.UID), ReceivedAt: e.received,
		Verified: e.verified, DeliveryID: deliveryID, Outcome: string(result), Reason: reason, Status: status,
		BodySize: e.size, BodySHA256: e.sum, RunName: run,
	}
	if e.verified && e.retention > 0 {
		until := e.received.Add(e.retention)
		d.Body, d.ContentType, d.Headers, d.BodyExpiresAt = e.body, e.contentType, e.headers, &until
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), logTimeout)
		defer cancel()
		if err := s.Store.LogDelivery(ctx, d); err != nil {
			s.Log.Error(err, "writing the delivery log", "namespace", d.Namespace, "endpoint", d.Endpoint, "deliveryID", d.DeliveryID)
		}
	}()
}
