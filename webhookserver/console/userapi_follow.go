package console

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpbound"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

const (
	// maxFollowPoll is the longest a follower of a quiet stream waits between reads.
	maxFollowPoll = 2 * time.Second
	// stepsRecheck is how often a follower re-reads the Run for new steps and attempts.
	stepsRecheck = time.Second
	// keepAlive keeps proxies from closing a quiet event stream.
	keepAlive = 15 * time.Second
	// followRetryAfter is the Retry-After of a follow refused by a cap: follows last, so
	// a slot frees up in seconds at best.
	followRetryAfter = 10 * time.Second
)

// logsCheck is what the logs route asks SubjectAccessReview (Name is the Run's); a
// follow asks it again while it lasts.
var logsCheck = check{Verb: "get", Resource: "runs", Subresource: "logs"}

// followLogs streams lines as server-sent events while they are appended, and ends with
// an `end` event (userapi.LogStreamEnd) once the Run has finished and every line has been
// sent, once the Run is deleted (`"deleted": true`), or once the caller may no longer read
// its logs (`"forbidden": true`, asked again every AccessRecheck and when the token
// expires). The caller holds a follow slot (followSlots) for as long as this runs.
func (a *Server) followLogs(w http.ResponseWriter, r *http.Request, run *aiasv1alpha1.Run, q logQuery, c logCursor) {
	// A follow outlasts the listener's read and write timeouts; each write (a line, or
	// the keep-alive every 15 s) must instead get through within its stream timeout.
	w, r = httpbound.Stream(w, r)
	flusher, ok := w.(http.Flusher)
	if !ok {
		httpjson.Error(w, http.StatusInternalServerError, "InternalError", "streaming unsupported")
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx would otherwise hold the stream back
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, "retry: 2000\n\n")
	flusher.Flush()
	end := func(e userapi.LogStreamEnd) {
		data, _ := json.Marshal(e)
		fmt.Fprintf(w, "event: end\nid: %s\ndata: %s\n\n", c.encode(), data)
		flusher.Flush()
	}

	ctx := r.Context()
	access := newAccessRecheck(r, a.followLimits().AccessRecheck)
	poll := a.FollowPoll
	if poll <= 0 {
		poll = 300 * time.Millisecond
	}
	// A quiet stream is polled less and less often (up to maxFollowPoll): a step that
	// prints once a minute should not cost a query every 300 ms per follower.
	wait := poll
	timer := time.NewTimer(wait)
	defer timer.Stop()
	lastRecheck, lastWrite := time.Now(), time.Now()
	for {
		// Finished is read before the lines: a Run that had ended before this read has
		// all its lines stored, so an empty read after it means nothing more will come.
		finished := run.Status.Phase.Finished()
		sent := 0
		more, err := a.readLogs(ctx, run, q, c, defaultLogPage, func(l userapi.LogEntry) error {
			data, _ := json.Marshal(l)
			// Each event carries the cursor after it (readLogs has advanced c past the
			// line), so a reconnect resumes right there.
			_, err := fmt.Fprintf(w, "event: line\nid: %s\ndata: %s\n\n", c.encode(), data)
			sent++
			return err
		})
		if err != nil {
			if ctx.Err() == nil {
				a.Log.Error(err, "following logs")
			}
			return
		}
		if sent > 0 {
			flusher.Flush()
			lastWrite = time.Now()
			wait = poll
		} else {
			wait = min(wait*2, max(poll, maxFollowPoll))
		}
		if more && !access.due() {
			continue // more are waiting
		}
		if finished && sent == 0 {
			end(userapi.LogStreamEnd{Phase: string(run.Status.Phase)})
			return
		}
		if time.Since(lastWrite) > keepAlive {
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
			lastWrite = time.Now()
		}
		if !more {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		}
		if access.due() {
			if ok, msg := a.stillAllowed(ctx, access, run); !ok {
				end(userapi.LogStreamEnd{Phase: string(run.Status.Phase), Forbidden: true, Message: msg})
				return
			}
		}
		if time.Since(lastRecheck) >= stepsRecheck || finished {
			lastRecheck = time.Now()
			fresh, err := a.fetchRun(ctx, run.Namespace, run.Name)
			switch {
			case err == nil && fresh.UID == run.UID && fresh.DeletionTimestamp == nil:
				run = fresh
			case err == nil || apierrors.IsNotFound(err):
				// Deleted, being deleted (its finalizer drops its lines), or replaced by
				// a new Run of the same name: nothing more will come for this one.
				end(userapi.LogStreamEnd{Phase: string(run.Status.Phase), Deleted: true})
				return
			case ctx.Err() != nil:
				return
			}
		}
	}
}

// stillAllowed asks the apiserver again whether the follow's caller may read the Run's
// logs, and schedules the next question. An apiserver that cannot answer leaves the
// follow running until the next one: an outage should not cut every follower.
func (a *Server) stillAllowed(ctx context.Context, ar *accessRecheck, run *aiasv1alpha1.Run) (bool, string) {
	c := logsCheck
	c.Name = run.Name
	ok, msg, err := a.access.stillAllowed(ctx, ar.token, run.Namespace, c)
	ar.asked()
	if err != nil {
		if ctx.Err() == nil {
			a.Log.Error(err, "asking again whether a log follower may read the run's logs")
		}
		return true, ""
	}
	return ok, msg
}

// accessRecheck says when a follow asks again whether its caller may read the logs:
// every interval, and right after its token expires when the token says when.
type accessRecheck struct {
	token    string
	interval time.Duration
	expiry   time.Time // zero: unknown
	next     time.Time
}

func newAccessRecheck(r *http.Request, interval time.Duration) *accessRecheck {
	token, _ := bearerToken(r)
	ar := &accessRecheck{token: token, interval: interval}
	ar.expiry, _ = tokenExpiry(token)
	ar.asked()
	return ar
}

// asked schedules the next question after one was just asked.
func (ar *accessRecheck) asked() {
	now := time.Now()
	ar.next = now.Add(ar.interval)
	if !ar.expiry.IsZero() && ar.expiry.After(now) && ar.expiry.Before(ar.next) {
		ar.next = ar.expiry.Add(time.Second) // past the apiserver's own clock check
	}
}

func (ar *accessRecheck) due() bool { return !time.Now().Before(ar.next) }

// followLimits are the Server's FollowLimits with defaults filled in.
func (a *Server) followLimits() FollowLimits { return a.Follows.Or(DefaultFollowLimits) }
