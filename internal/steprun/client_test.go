package steprun

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// A 429 or 503 with Retry-After is retried no sooner than it asks (the API's upload caps
// and spool answer so), and no later than maxRetryAfter; on main the retry came after the
// backoff's 200 ms whatever the answer said.
func TestClientWaitsForRetryAfter(t *testing.T) {
	var mu sync.Mutex
	var calls []time.Time
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls = append(calls, time.Now())
		n := len(calls)
		mu.Unlock()
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := &client{cfg: Config{Token: "t"}, http: srv.Client(), retryFor: time.Minute}
	resp, err := c.do(context.Background(), func() (*http.Request, error) { return http.NewRequest(http.MethodGet, srv.URL, nil) })
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(calls) != 2 || calls[1].Sub(calls[0]) < time.Second {
		t.Errorf("%d calls, the retry %s after the 429 with Retry-After: 1", len(calls), calls[len(calls)-1].Sub(calls[0]))
	}
	for h, want := range map[string]time.Duration{"": 0, "x": 0, "-3": 0, "2": 2 * time.Second, "3600": maxRetryAfter} {
		if got := retryAfter(h); got != want {
			t.Errorf("Retry-After %q: wait %s, want %s", h, got, want)
		}
	}
}
