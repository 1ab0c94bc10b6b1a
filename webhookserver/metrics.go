package webhookserver

import (
	"errors"
	"net"
	"net/http"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/aias-dev/aias/webhookserver/internal/metricsauth"
)

// serveMetrics serves Registry on the metrics listener: over TLS to callers whose
// Kubernetes token may get /metrics, or, with o.InsecureMetrics, over plain HTTP to anyone.
func serveMetrics(o Options, listen func(name, addr string, lim Limits, h http.Handler, bound *string, wrap ...func(net.Listener) (net.Listener, error)) error, bound *string) error {
	if o.MetricsAddr == "" || o.MetricsAddr == "0" {
		return nil
	}
	h := promhttp.HandlerFor(Registry, promhttp.HandlerOpts{})
	if o.InsecureMetrics {
		return listen("metrics", o.MetricsAddr, o.MetricsLimits, h, bound)
	}
	if o.RestConfig == nil {
		return errors.New("secure metrics (--metrics-secure) need the Kubernetes API to review tokens")
	}
	guard, err := metricsauth.New(o.RestConfig)
	if err != nil {
		return err
	}
	return listen("metrics", o.MetricsAddr, o.MetricsLimits, guard.Handler(h), bound, metricsauth.TLSListener)
}
