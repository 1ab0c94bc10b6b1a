package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"

	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpbound"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

const (
	defaultLogPage = 1000
	maxLogPage     = 5000
	// maxFollowPoll is the longest a follower of a quiet stream waits between reads.
	maxFollowPoll = 2 * time.Second
	// stepsRecheck is how often a follower re-reads the Run for new steps and attempts.
	stepsRecheck = time.Second
	// keepAlive keeps proxies from closing a quiet event stream.
	keepAlive = 15 * time.Second
)

// logCursor is how far a reader got: lines read per step attempt stream. It travels to
// the client opaque (and back as ?cursor= or SSE's Last-Event-ID), so a reconnect resumes
// exactly after the last line delivered.
type logCursor map[string]int64

func cursorKey(step string, attempt int, stream string) string {
	return step + "/" + strconv.Itoa(attempt) + "/" + stream
}

func (c logCursor) encode() string {
	raw, _ := json.Marshal(map[string]int64(c))
	return base64.RawURLEncoding.EncodeToString(raw)
}

func decodeCursor(s string) (logCursor, error) {
	c := logCursor{}
	if s == "" {
		return c, nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(raw, &c)
	}
	if err != nil {
		return nil, fmt.Errorf("cursor: not one this API issued")
	}
	return c, nil
}

// logQuery is which step attempts a reader wants.
type logQuery struct {
	step    string
	attempt int // 0: every attempt
}

// keys lists the streams to read for the Run's steps as its status knows them now.
func (q logQuery) keys(run *aiasv1alpha1.Run, c logCursor) []store.LogKey {
	var keys []store.LogKey
	for _, s := range run.Status.Steps {
		if q.step != "" && s.Name != q.step {
			continue
		}
		for attempt := 1; attempt <= int(s.Attempts); attempt++ {
			if q.attempt != 0 && attempt != q.attempt {
				continue
			}
			for _, stream := range store.LogStreams {
				keys = append(keys, store.LogKey{Step: s.Name, Attempt: attempt, Stream: stream, After: c[cursorKey(s.Name, attempt, stream)]})
			}
		}
	}
	return keys
}

// readLogs returns up to limit lines after the cursor in time order, and advances the
// cursor past them. Lines of one stream keep their sequence order (a k-way merge by the
// heads' times), so the cursor never skips a line even when clocks disagree.
func (a *Server) readLogs(ctx context.Context, run *aiasv1alpha1.Run, q logQuery, c logCursor, limit int) ([]userapi.LogEntry, error) {
	lines, err := a.Store.ReadRunLogs(ctx, string(run.UID), q.keys(run, c), limit)
	if err != nil {
		return nil, err
	}
	var order []string
	queues := map[string][]store.RunLogLine{}
	for _, l := range lines {
		k := cursorKey(l.Step, l.Attempt, l.Stream)
		if _, ok := queues[k]; !ok {
			order = append(order, k)
		}
		queues[k] = append(queues[k], l)
	}
	out := make([]userapi.LogEntry, 0, min(limit, len(lines)))
	for len(out) < limit {
		best := ""
		for _, k := range order {
			if q := queues[k]; len(q) > 0 && (best == "" || q[0].Time.Before(queues[best][0].Time)) {
				best = k
			}
		}
		if best == "" {
			break
		}
		l := queues[best][0]
		queues[best] = queues[best][1:]
		c[best] = l.Seq
		out = append(out, userapi.LogEntry{Step: l.Step, Attempt: l.Attempt, Stream: l.Stream, Seq: l.Seq, Time: l.Time, Line: l.Line})
	}
	return out, nil
}

func (a *Server) getLogs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	lq := logQuery{step: q.Get("step")}
	if s := q.Get("attempt"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			badRequest(w, "attempt must be a positive number")
			return
		}
		lq.attempt = n
	}
	cursorText := q.Get("cursor")
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		cursorText = id // EventSource reconnecting
	}
	c, err := decodeCursor(cursorText)
	if err != nil {
		badRequest(w, err.Error())
		return
	}
	limit := defaultLogPage
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxLogPage {
			badRequest(w, fmt.Sprintf("limit must be a number from 1 to %d", maxLogPage))
			return
		}
	}
	run, err := a.fetchRun(r.Context(), r.PathValue("ns"), r.PathValue("run"))
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	if lq.step != "" && !hasStep(run, lq.step) {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "run "+run.Name+" has no step "+lq.step)
		return
	}
	if follow, _ := strconv.ParseBool(q.Get("follow")); follow || strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		a.followLogs(w, r, run, lq, c)
		return
	}
	lines, err := a.readLogs(r.Context(), run, lq, c, limit)
	if err != nil {
		a.apiFailure(w, "logs", err)
		return
	}
	httpjson.Write(w, http.StatusOK, userapi.LogPage{Items: lines, Cursor: c.encode(), Finished: run.Status.Phase.Finished()})
}

func hasStep(run *aiasv1alpha1.Run, name string) bool {
	for _, s := range run.Status.Steps {
		if s.Name == name {
			return true
		}
	}
	return false
}

// followLogs streams lines as server-sent events while they are appended, and ends with
// an `end` event once the Run has finished and every line has been sent, or once the Run
// is deleted (`"deleted": true`).
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

	ctx := r.Context()
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
		sent := maps.Clone(c) // the cursor as of each event sent
		lines, err := a.readLogs(ctx, run, q, c, defaultLogPage)
		if err != nil {
			if ctx.Err() == nil {
				a.Log.Error(err, "following logs")
			}
			return
		}
		for _, l := range lines {
			data, _ := json.Marshal(l)
			// Each event carries the cursor after it, so a reconnect resumes right there.
			sent[cursorKey(l.Step, l.Attempt, l.Stream)] = l.Seq
			fmt.Fprintf(w, "event: line\nid: %s\ndata: %s\n\n", sent.encode(), data)
		}
		if len(lines) > 0 {
			flusher.Flush()
			lastWrite = time.Now()
			wait = poll
			if len(lines) == defaultLogPage {
				continue // more are waiting
			}
		} else {
			wait = min(wait*2, max(poll, maxFollowPoll))
		}
		if finished && len(lines) == 0 {
			fmt.Fprintf(w, "event: end\nid: %s\ndata: {\"phase\":%q}\n\n", c.encode(), run.Status.Phase)
			flusher.Flush()
			return
		}
		if time.Since(lastWrite) > keepAlive {
			fmt.Fprint(w, ": keep-alive\n\n")
			flusher.Flush()
			lastWrite = time.Now()
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
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
				fmt.Fprintf(w, "event: end\nid: %s\ndata: {\"phase\":%q,\"deleted\":true}\n\n", c.encode(), run.Status.Phase)
				flusher.Flush()
				return
			case ctx.Err() != nil:
				return
			}
		}
	}
}
