package hooks

import (
	"context"
	"crypto/sha256"
	"net/http"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
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
}

type logEntryKey struct{}

func withLogEntry(r *http.Request, e *logEntry) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), logEntryKey{}, e))
}

func logEntryOf(r *http.Request) *logEntry {
	e, _ := r.Context().Value(logEntryKey{}).(*logEntry)
	return e
}

func (e *logEntry) body(b []byte) {
	sum := sha256.Sum256(b)
	e.size, e.sum = int64(len(b)), sum[:]
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
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), logTimeout)
		defer cancel()
		if err := s.Store.LogDelivery(ctx, d); err != nil {
			s.Log.Error(err, "writing the delivery log", "namespace", d.Namespace, "endpoint", d.Endpoint, "deliveryID", d.DeliveryID)
		}
	}()
}
