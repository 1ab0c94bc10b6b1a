package apiclient

import (
	"net/http"
	"strconv"
	"time"
)

// The user API answers 429 with Retry-After when a caller is past its request budget
// (per user) or its follows (per user and namespace). A client waits and tries again, a
// few times, rather than fail a command that only went a little too fast.
const (
	maxRateRetries = 5
	// maxRetryAfter bounds one wait: a longer Retry-After is the caller's to see.
	maxRetryAfter = 30 * time.Second
)

// rateRetries re-sends a request answered 429 after its Retry-After.
type rateRetries struct{ next http.RoundTripper }

func (t rateRetries) RoundTrip(req *http.Request) (*http.Response, error) {
	for attempt := 0; ; attempt++ {
		resp, err := t.next.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusTooManyRequests || attempt == maxRateRetries {
			return resp, err
		}
		wait, ok := retryAfter(resp)
		if !ok || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			return resp, nil
		}
		resp.Body.Close()
		select {
		case <-req.Context().Done():
			return nil, req.Context().Err()
		case <-time.After(wait):
		}
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// retryAfter reads a Retry-After in seconds, when it is one this client waits for.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	d := time.Duration(secs) * time.Second
	return max(d, 100*time.Millisecond), d <= maxRetryAfter
}

// withRateRetries is hc with its transport wrapped in rateRetries.
func withRateRetries(hc *http.Client) *http.Client {
	c := *hc
	next := c.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	c.Transport = rateRetries{next: next}
	return &c
}
