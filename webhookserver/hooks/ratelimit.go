package hooks

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// rateLimits holds one token bucket per endpoint (by UID, so a recreated endpoint starts
// full), rebuilt when the endpoint's rateLimit changes.
type rateLimits struct {
	mu      sync.Mutex
	buckets map[types.UID]*bucket
}

type bucket struct {
	perMinute, burst int32
	limiter          *rate.Limiter
}

// allow takes a token for a verified delivery, or says how long until one is free.
func (l *rateLimits) allow(ep *aiasv1alpha1.WebhookEndpoint, now time.Time) (time.Duration, bool) {
	rl := ep.Spec.RateLimit
	if rl == nil {
		return 0, true
	}
	burst := max(rl.RequestsPerMinute/10, 1)
	if rl.Burst != nil {
		burst = *rl.Burst
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[types.UID]*bucket{}
	}
	b := l.buckets[ep.UID]
	if b == nil || b.perMinute != rl.RequestsPerMinute || b.burst != burst {
		b = &bucket{perMinute: rl.RequestsPerMinute, burst: burst,
			limiter: rate.NewLimiter(rate.Limit(float64(rl.RequestsPerMinute)/60), int(burst))}
		l.buckets[ep.UID] = b
	}
	r := b.limiter.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}
