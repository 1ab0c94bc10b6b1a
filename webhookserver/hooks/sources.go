package hooks

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
)

// sources holds, per client address, what deliveries that did not verify may still cost:
// a token bucket of unverified deliveries. A source without tokens is answered 429 before
// its request is looked at (the same answer whether the endpoint exists or not), so that
// nobody without a key can make the listener read and hash bodies at will.
type sources struct {
	perMinute, burst int
	trusted          []netip.Prefix

	once    sync.Once
	buckets *utilcache.LRUExpireCache // netip.Addr → *rate.Limiter
}

const (
	// maxTrackedSources bounds the addresses whose buckets are kept; one pushed out (the
	// least recently seen) starts full again, which costs a flood of distinct addresses
	// the bucket it would have had anyway.
	maxTrackedSources = 65536
	// sourceTTL is how long an address's bucket is kept after its last unverified
	// delivery: long enough for any bucket to refill.
	sourceTTL = 10 * time.Minute
)

func (s *sources) cache() *utilcache.LRUExpireCache {
	s.once.Do(func() { s.buckets = utilcache.NewLRUExpireCache(maxTrackedSources) })
	return s.buckets
}

// mayTry reports whether addr may send one more delivery, or how long until it may.
func (s *sources) mayTry(addr netip.Addr, now time.Time) (time.Duration, bool) {
	v, ok := s.cache().Get(addr)
	if !ok {
		return 0, true
	}
	l := v.(*rate.Limiter)
	if tokens := l.TokensAt(now); tokens < 1 {
		return time.Duration((1 - tokens) / float64(l.Limit()) * float64(time.Second)), false
	}
	return 0, true
}

// charge takes tokens from addr's bucket for a delivery of size bytes that did not
// verify: one per MiB read and hashed (at least one, at most the burst), so that what a
// source without a key costs is bounded in bytes, not only in requests. The bucket may
// go into debt; the source then waits until it is paid back.
func (s *sources) charge(addr netip.Addr, now time.Time, size int64) {
	c := s.cache()
	v, ok := c.Get(addr)
	if !ok {
		v = rate.NewLimiter(rate.Limit(float64(s.perMinute)/60), s.burst)
	}
	v.(*rate.Limiter).ReserveN(now, mibCost(size, s.burst))
	c.Add(addr, v, sourceTTL)
}

// mibCost is what a body of size bytes costs a bucket: one token per started MiB, at
// least one and at most burst.
func mibCost(size int64, burst int) int {
	return int(min(max((size+(1<<20)-1)>>20, 1), int64(burst)))
}

// addrOf is the client a request comes from: its peer, or, when the peer is a trusted
// proxy, the last address in X-Forwarded-For that is not one (the first that a trusted
// hop did not merely pass on).
func (s *sources) addrOf(r *http.Request) netip.Addr {
	peer := remoteAddr(r)
	if !s.isTrusted(peer) {
		return peer
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer // a hop we cannot read: charge the proxy rather than guess
		}
		if a = a.Unmap(); !s.isTrusted(a) {
			return a
		}
	}
	return peer
}

func (s *sources) isTrusted(a netip.Addr) bool {
	for _, p := range s.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

func remoteAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}
