package hooks

import (
	"sync"
	"time"

	"golang.org/x/time/rate"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// rateLimits holds one token bucket per key (an endpoint's or a tenant's UID, so that a
// re-created one starts full), rebuilt when its rate changes. Buckets that have filled up
// again are dropped (see sweep), so it holds only the keys that delivered lately, not
// every one that ever did.
type rateLimits struct {
	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

// sweepEvery is how often reserve looks for full buckets to drop.
const sweepEvery = time.Minute

type bucket struct {
	perMinute, burst int32
	limiter          *rate.Limiter
}

// reserve takes a token from key's bucket of perMinute tokens a minute and burst at most,
// or says how long until one is free. The reservation can be given back (Cancel) when a
// later check refuses the delivery after all.
func (l *rateLimits) reserve(key string, perMinute, burst int32, now time.Time) (*rate.Reservation, time.Duration, bool) {
	return l.reserveN(key, perMinute, burst, 1, now)
}

// reserveN is reserve of n tokens.
func (l *rateLimits) reserveN(key string, perMinute, burst int32, n int, now time.Time) (*rate.Reservation, time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	if now.Sub(l.swept) >= sweepEvery {
		l.sweep(now)
	}
	b := l.buckets[key]
	if b == nil || b.perMinute != perMinute || b.burst != burst {
		b = &bucket{perMinute: perMinute, burst: burst, limiter: rate.NewLimiter(rate.Limit(float64(perMinute)/60), int(burst))}
		l.buckets[key] = b
	}
	r := b.limiter.ReserveN(now, n)
	if !r.OK() {
		return nil, time.Minute, false // a rate of zero: nothing is ever allowed
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return nil, d, false
	}
	return r, 0, true
}

// allow takes a token for a verified delivery to ep under its rateLimit (always allowed
// without one), or says how long until one is free.
func (l *rateLimits) allow(ep *aiasv1alpha1.WebhookEndpoint, now time.Time) (time.Duration, bool) {
	rl := ep.Spec.RateLimit
	if rl == nil {
		return 0, true
	}
	_, wait, ok := l.reserve(string(ep.UID), rl.RequestsPerMinute, burstOf(rl.RequestsPerMinute, rl.Burst), now)
	return wait, ok
}

// burstOf is a bucket's burst: the one given, else a tenth of the rate (at least one).
func burstOf(perMinute int32, burst *int32) int32 {
	if burst != nil {
		return *burst
	}
	return max(perMinute/10, 1)
}

// sweep drops the buckets that are full at now. A full bucket is exactly what reserve
// would make for a key it has no bucket for, so dropping one changes no answer: a key
// keeps its bucket only while it is still paying back deliveries (at most burst/rate
// after its last one), and a deleted endpoint's bucket goes within that time plus
// sweepEvery.
func (l *rateLimits) sweep(now time.Time) {
	for key, b := range l.buckets {
		if b.limiter.TokensAt(now) >= float64(b.burst) {
			delete(l.buckets, key)
		}
	}
	l.swept = now
}
