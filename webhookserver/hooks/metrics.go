package hooks

import "github.com/prometheus/client_golang/prometheus"

var (
	deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aias_webhook_deliveries_total",
		Help: "Webhook deliveries by namespace, endpoint and result (created, duplicate, unauthorized, malformed, not_found, too_large, suspended, rate_limited, quota_exceeded, unavailable). Unknown endpoints count under empty labels.",
	}, []string{"namespace", "endpoint", "result"})
	notesDropped = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aias_webhook_notes_dropped_total",
		Help: "Delivery-log rows and ledger marks the hook listener did not queue because the queue was full, by kind (log, mark). A verified delivery whose log row is dropped is answered 503 and retried by its sender; a dropped mark is made by the Run controller.",
	}, []string{"kind"})
	verificationSeconds = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "aias_webhook_verification_seconds",
		Help:    "Time spent verifying a delivery's signature, by scheme.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 12), // 1µs … ~4s
	}, []string{"scheme"})
)

// Collectors are the hook listener's metrics, for the webhookserver's registry.
func Collectors() []prometheus.Collector {
	return []prometheus.Collector{deliveries, notesDropped, verificationSeconds}
}
