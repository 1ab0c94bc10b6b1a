package steprun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
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
// re-read), retrying with exponential backoff on transport errors and 5xx/429.
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
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			err = &permanentError{status: resp.StatusCode, body: string(body)}
			if resp.StatusCode < 500 && resp.StatusCode != http.StatusTooManyRequests {
				return nil, err
			}
		}
		if time.Now().Add(wait).After(deadline) {
			return nil, fmt.Errorf("giving up after retries: %w", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}
