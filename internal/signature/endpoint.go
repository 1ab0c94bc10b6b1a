package signature

import (
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// ConfigFor translates a WebhookEndpoint's spec.verification into the Config that the
// hook listener verifies with, `aias trigger` signs with and the WebhookEndpoint
// controller checks the endpoint's keys against: one translation for all three.
func ConfigFor(v aiasv1alpha1.Verification) Config {
	cfg := Config{Scheme: Scheme(v.Scheme), DeliveryIDHeader: v.DeliveryIDHeader}
	if cfg.Scheme == "" {
		cfg.Scheme = StandardWebhooks // the API default
	}
	if v.Tolerance != nil {
		cfg.Tolerance = v.Tolerance.Duration
	}
	if h := v.HMAC; h != nil {
		cfg.HMAC = &HMACConfig{Header: h.Header, Algorithm: string(h.Algorithm), Encoding: string(h.Encoding), Prefix: h.Prefix}
	}
	return cfg
}

// DefaultReplayWindow applies when an endpoint sets no spec.replayWindow (the schema
// default).
const DefaultReplayWindow = 72 * time.Hour

// ReplayWindowFor is how long the delivery ledger keeps an endpoint's deliveries:
// spec.replayWindow, raised to what the verification scheme needs (Config.ReplayWindow).
func ReplayWindowFor(spec aiasv1alpha1.WebhookEndpointSpec) time.Duration {
	window := DefaultReplayWindow
	if spec.ReplayWindow != nil {
		window = spec.ReplayWindow.Duration
	}
	return ConfigFor(spec.Verification).ReplayWindow(window)
}
