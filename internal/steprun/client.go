package steprun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
)

// client talks to the internal API, retrying while the API is briefly unavailable.
type client struct {
	cfg  Config
	http *http.Client
	// retryFor bounds how long one call keeps retrying.
	retryFor time.Duration
}

// permanentError is an answer that retrying cannot change (4xx).
type permanentError struct {
	status int
	body   string
}

func (e *permanentError) Error() string { return fmt.Sprintf("status %d: %s", e.status, e.body) }

// reason is the API's error reason ("BatchTooLarge", ...), "" when the body has none.
func (e *permanentError) reason() string {
	var b struct{ Reason string }
	_ = json.Unmarshal([]byte(e.body), &b)
	return b.Reason
}

// message is the API's error sentence, else the body.
func (e *permanentError) message() string {
	var b struct{ Error string }
	if json.Unmarshal([]byte(e.body), &b) == nil && b.Error != "" {
		return b.Error
	}
	return strings.TrimSpace(e.body)
}

// do sends the request built by newReq (called again per attempt, so bodies can be
// re-read), retrying with exponential backoff on transport errors and 5xx/429, waiting at
// least what the answer's Retry-After asks (up to maxRetryAfter): the API answers 429
// when the attempt or its namespace has its most uploads in flight, 503 when the server is
// busy.
func (c *client) do(ctx context.Context, newReq func() (*http.Request, error)) (*http.Response, error) {
	deadline := time.Now().Add(c.retryFor)
	wait := 200 * time.Millisecond
	for {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		req = req.WithContext(ctx)
		req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
		if c.cfg.Ticket != "" {
			req.Header.Set(stepjob.TicketHeader, c.cfg.Ticket)
		}
		resp, err := c.http.Do(req)
		if err == nil && resp.StatusCode < 300 {
			return resp, nil
		}
		pause := wait
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			err = &permanentError{status: resp.StatusCode, body: string(body)}
			if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
				return nil, err
			}
			pause = max(pause, retryAfter(resp.Header.Get("Retry-After")))
		}
		if time.Now().Add(pause).After(deadline) {
			return nil, fmt.Errorf("giving up after retries: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(pause):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

// maxRetryAfter bounds how long one Retry-After can make a call wait.
const maxRetryAfter = 30 * time.Second

// retryAfter is a Retry-After header's delay in seconds (0 when absent or not seconds).
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n <= 0 {
		return 0
	}
	return min(time.Duration(n)*time.Second, maxRetryAfter)
}
