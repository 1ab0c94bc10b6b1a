package billing

import "github.com/prometheus/client_golang/prometheus"

var billingEvents = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aias_billing_events_total",
	Help: "Stripe events received on POST /billing/stripe by type (the handled ones by name, others as \"other\", empty when unreadable) and outcome (applied, duplicate, ignored, unmatched, ambiguous, stale, ended, invalid, too_large, in_progress, unavailable).",
}, []string{"type", "outcome"})

// Collectors are Stripe billing's metrics, for the webhookserver's registry.
func Collectors() []prometheus.Collector { return []prometheus.Collector{billingEvents} }
