package apiclient

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aias-dev/aias/internal/userapi"
)

// LogQuery selects log lines; zero fields select everything from the start.
type LogQuery struct {
	Step    string
	Attempt int
	// Cursor is a LogPage's Cursor (or an event's id): lines after it.
	Cursor string
	Limit  int
}

func (q LogQuery) values() url.Values {
	v := url.Values{}
	if q.Step != "" {
		v.Set("step", q.Step)
	}
	if q.Attempt > 0 {
		v.Set("attempt", strconv.Itoa(q.Attempt))
	}
	if q.Cursor != "" {
		v.Set("cursor", q.Cursor)
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	return v
}

// Logs fetches one page of a Run's log lines in time order.
func (c *Client) Logs(ctx context.Context, ns, run string, q LogQuery) (*userapi.LogPage, error) {
	out := &userapi.LogPage{}
	return out, c.do(ctx, http.MethodGet, userapi.LogsPath(ns, run), q.values(), out)
}

// Follow tuning; variables so tests can shorten them.
var (
	// followIdle is how long a stream may stay silent (not even a keep-alive comment)
	// before it counts as dropped; reconnecting from the cursor costs nothing.
	followIdle = 90 * time.Second
	// followRetry is the first reconnection delay when the server sent no `retry:`.
	followRetry = time.Second
	// followMaxRetry caps the doubling delay between failed reconnects.
	followMaxRetry = 15 * time.Second
	// followMaxFailures is how many connects in a row may fail before FollowLogs gives up.
	followMaxFailures = 6
)

// errStreamEnded stops the event reader at `event: end`.
var errStreamEnded = errors.New("end of stream")

// FollowLogs streams a Run's log lines (server-sent events) and calls fn for each one,
// from q.Cursor on, until the server says the Run ended and every line was sent
// (`event: end`; FollowLogs returns nil), ctx is done (ctx.Err()), fn fails (its error),
// or the server refuses (an *APIError: among them 429 TooManyFollows, and 403 when an
// `end` event says the caller's access was revoked mid-stream). A dropped connection is resumed with
// Last-Event-ID set to the last delivered line's id, so no line is lost or repeated.
func (c *Client) FollowLogs(ctx context.Context, ns, run string, q LogQuery, fn func(userapi.LogEntry) error) error {
	cursor := q.Cursor
	retry := followRetry
	failures := 0
	for {
		connected, err := c.followOnce(ctx, ns, run, q, &cursor, &retry, fn)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return ctx.Err()
		case !retriable(err):
			return err
		}
		if connected {
			failures = 0 // a stream that was open and dropped is not a failing server
		} else if failures++; failures >= followMaxFailures {
			return fmt.Errorf("following logs: giving up after %d failed reconnects: %w", failures, err)
		}
		delay := retry << max(failures-1, 0)
		if delay > followMaxRetry || delay <= 0 {
			delay = followMaxRetry
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// errDropped marks a stream that ended (EOF, reset, silence) before `event: end`.
type errDropped struct{ cause error }

func (e errDropped) Error() string { return fmt.Sprintf("log stream dropped: %v", e.cause) }
func (e errDropped) Unwrap() error { return e.cause }

// retriable: dropped streams, network errors and 503 are worth a reconnect; other API
// answers (401, 403, 404) and the callback's own errors are final.
func retriable(err error) bool {
	var ae *APIError
	if errors.As(err, &ae) {
		return ae.StatusCode == http.StatusServiceUnavailable || ae.StatusCode == http.StatusBadGateway || ae.StatusCode == http.StatusGatewayTimeout
	}
	var dropped errDropped
	if errors.As(err, &dropped) {
		return true
	}
	var cbErr callbackError
	if errors.As(err, &cbErr) {
		return false
	}
	var decodeErr decodeError
	return !errors.As(err, &decodeErr) // what remains is the transport's
}

// callbackError wraps fn's error so the retry logic never retries it.
type callbackError struct{ err error }

func (e callbackError) Error() string { return e.err.Error() }
func (e callbackError) Unwrap() error { return e.err }

// decodeError is an event the server sent that does not parse: a bug, not a network fault.
type decodeError struct{ err error }

func (e decodeError) Error() string { return "log stream: " + e.err.Error() }
func (e decodeError) Unwrap() error { return e.err }

// followOnce opens one event stream and reads it to its end. connected reports whether the
// server accepted the request; *cursor advances past every delivered line.
func (c *Client) followOnce(ctx context.Context, ns, run string, q LogQuery, cursor *string, retry *time.Duration,
	fn func(userapi.LogEntry) error) (connected bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	q.Cursor = *cursor
	v := q.values()
	v.Set("follow", "true")
	req, err := c.newRequest(ctx, http.MethodGet, userapi.LogsPath(ns, run), v)
	if err != nil {
		return false, err
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if *cursor != "" {
		req.Header.Set("Last-Event-ID", *cursor)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, errorFrom(resp)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return true, decodeError{fmt.Errorf("the server answered %q, not an event stream", resp.Header.Get("Content-Type"))}
	}

	// A watchdog cancels the request when nothing arrives for followIdle, so a half-open
	// connection turns into a reconnect instead of a hang.
	idle := time.AfterFunc(followIdle, cancel)
	defer idle.Stop()
	touch := func() { idle.Reset(followIdle) }

	err = readEvents(resp.Body, touch, func(ev event) error {
		if ev.Retry > 0 {
			*retry = ev.Retry
		}
		switch ev.Type {
		case "line", "message":
			var entry userapi.LogEntry
			if err := json.Unmarshal([]byte(ev.Data), &entry); err != nil {
				return decodeError{fmt.Errorf("event %q: %w", ev.ID, err)}
			}
			if err := fn(entry); err != nil {
				return callbackError{err}
			}
			if ev.ID != "" {
				*cursor = ev.ID
			}
		case "end":
			var end userapi.LogStreamEnd
			if json.Unmarshal([]byte(ev.Data), &end) == nil && end.Forbidden {
				// Final: the caller may no longer read these logs.
				return &APIError{StatusCode: http.StatusForbidden, Reason: "Forbidden", Message: cmp.Or(end.Message, "access to the run's logs was revoked")}
			}
			return errStreamEnded
		case "error":
			var doc struct{ Error, Reason string }
			if json.Unmarshal([]byte(ev.Data), &doc) == nil && doc.Error != "" {
				// Final: the stream was open, so the server chose to stop it.
				return &APIError{Reason: cmp.Or(doc.Reason, "StreamError"), Message: doc.Error}
			}
		}
		return nil // other events are for other readers
	})
	switch {
	case errors.Is(err, errStreamEnded):
		return true, nil
	case err == nil:
		return true, errDropped{errors.New("connection closed before the end event")}
	case ctx.Err() != nil:
		// The watchdog canceled the read (FollowLogs checks the caller's ctx first).
		return true, errDropped{err}
	default:
		var ae *APIError
		var cb callbackError
		var de decodeError
		if errors.As(err, &ae) || errors.As(err, &cb) || errors.As(err, &de) {
			return true, err
		}
		return true, errDropped{err}
	}
}
