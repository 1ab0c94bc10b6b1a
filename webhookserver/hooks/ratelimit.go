package hooks

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// rateLimits holds one token bucket per endpoint (by UID, so a recreated endpoint starts
// full), rebuilt when the endpoint's rateLimit changes. Buckets that have filled up again
// are dropped (see sweep), so it holds only the endpoints that delivered lately, not every
// endpoint that ever did.
type rateLimits struct {
	mu      sync.Mutex
	buckets map[types.UID]*bucket
	swept   time.Time
}

// sweepEvery is how often allow looks for full buckets to drop.
const sweepEvery = time.Minute

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
	if now.Sub(l.swept) >= sweepEvery {
		l.sweep(now)
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

// sweep drops the buckets that are full at now. A full bucket is exactly what allow would
// make for an endpoint it has no bucket for, so dropping one changes no answer: an endpoint
// keeps its bucket only while it is still paying back deliveries (at most burst/rate after
// its last one), and a deleted endpoint's bucket goes within that time plus sweepEvery.
func (l *rateLimits) sweep(now time.Time) {
	for uid, b := range l.buckets {
		if b.limiter.TokensAt(now) >= float64(b.burst) {
			delete(l.buckets, uid)
		}
	}
	l.swept = now
}
