package signature

import (
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
