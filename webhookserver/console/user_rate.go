package console

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
	utilcache "k8s.io/apimachinery/pkg/util/cache"

	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// RequestLimits bound each user's requests to the user API: a token bucket per user
// (the name TokenReview gives) of PerSecond tokens a second and Burst at most. Most
// requests cost one token; a page of logs one per 1000 lines it may return. Past it the
// answer is 429 RateLimited with Retry-After. A zero field takes DefaultRequestLimits.
type RequestLimits struct {
	PerSecond float64
	Burst     int
}

// DefaultRequestLimits: 20 requests a second, 40 at once — the console polls a few
// routes every few seconds; a script paging through logs goes at 4 pages of 5000 lines
// a second.
var DefaultRequestLimits = RequestLimits{PerSecond: 20, Burst: 40}

// Or fills l's zero fields from d.
func (l RequestLimits) Or(d RequestLimits) RequestLimits {
	if l.PerSecond <= 0 {
		l.PerSecond = d.PerSecond
	}
	if l.Burst <= 0 {
		l.Burst = d.Burst
	}
	return l
}

const (
	// maxRatedUsers bounds the users whose buckets are kept (the least recently seen go
	// first, and start full again).
	maxRatedUsers = 16384
	// ratedUserTTL is how long a bucket is kept after its user's last request: long enough
	// for any bucket to refill.
	ratedUserTTL = 5 * time.Minute
)

// userRates holds the buckets.
type userRates struct {
	lim     RequestLimits
	once    sync.Once
	buckets *utilcache.LRUExpireCache
}

// take spends cost tokens of user's bucket, or says how long until they are there.
func (u *userRates) take(user string, cost int, now time.Time) (time.Duration, bool) {
	u.once.Do(func() { u.buckets = utilcache.NewLRUExpireCache(maxRatedUsers) })
	v, ok := u.buckets.Get(user)
	if !ok {
		v = rate.NewLimiter(rate.Limit(u.lim.PerSecond), u.lim.Burst)
	}
	u.buckets.Add(user, v, ratedUserTTL)
	r := v.(*rate.Limiter).ReserveN(now, min(cost, u.lim.Burst))
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// rated wraps an authenticated handler with the caller's request budget; cost says what
// a request costs.
func (a *Server) rated(cost func(*http.Request) int, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if wait, ok := a.rates.take(callerFrom(r.Context()).GetName(), cost(r), time.Now()); !ok {
			w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
			httpjson.Error(w, http.StatusTooManyRequests, "RateLimited",
				fmt.Sprintf("you have made more than %g requests a second to the user API (a page of logs counts one per 1000 lines); retry after the Retry-After seconds", a.rates.lim.PerSecond))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// oneRequest is what most requests cost.
func oneRequest(*http.Request) int { return 1 }

// logPageCost is what a request for logs costs: a follow one (its slots bound it), a
// page one per 1000 lines it may return.
func logPageCost(r *http.Request) int {
	if f, _ := strconv.ParseBool(r.URL.Query().Get("follow")); f {
		return 1
	}
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit < 1 {
		return 1
	}
	return (limit + 999) / 1000
}
