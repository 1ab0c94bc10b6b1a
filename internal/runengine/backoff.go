package runengine

import (
	"math"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Retry backoff defaults, as documented on RetryBackoff.
const (
	DefaultBackoff    = 10 * time.Second
	DefaultFactor     = 2
	DefaultMaxBackoff = 5 * time.Minute
)

// Backoff is the wait before the attempt after failed attempt n: duration × factor^(n-1),
// capped at maxDuration.
func Backoff(b *aiasv1alpha1.RetryBackoff, n int32) time.Duration {
	base, factor, limit := DefaultBackoff, float64(DefaultFactor), DefaultMaxBackoff
	if b != nil {
		if b.Duration != nil {
			base = b.Duration.Duration
		}
		if b.Factor != nil {
			factor = float64(*b.Factor)
		}
		if b.MaxDuration != nil {
			limit = b.MaxDuration.Duration
		}
	}
	d := float64(base) * math.Pow(factor, float64(n-1))
	if d > float64(limit) {
		return limit
	}
	return time.Duration(d)
}
