package console

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"

	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

const (
	defaultLogPage = 1000
	maxLogPage     = 5000
	// logBatchBytes is about how much line text one read of a page's lines fetches (a
	// longer line is read alone): what a page in progress costs the server in memory.
	logBatchBytes = 64 << 10
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

// keys lists the streams to read for the Run's steps as its status knows them now. The
// items of a forEach step write their lines as steps of their own (`<step>.<index>`): a
// query for the step reads all of its items, one for an item that item only.
func (q logQuery) keys(run *aiasv1alpha1.Run, c logCursor) []store.LogKey {
	var keys []store.LogKey
	add := func(name string, attempts int32) {
		for attempt := 1; attempt <= int(attempts); attempt++ {
			if q.attempt != 0 && attempt != q.attempt {
				continue
			}
			for _, stream := range store.LogStreams {
				keys = append(keys, store.LogKey{Step: name, Attempt: attempt, Stream: stream, After: c[cursorKey(name, attempt, stream)]})
			}
		}
	}
	for _, s := range run.Status.Steps {
		whole := q.step == "" || q.step == s.Name
		if whole {
			add(s.Name, s.Attempts)
		}
		for k, it := range s.Items {
			if name := aiasv1alpha1.ItemStepName(s.Name, k); whole || q.step == name {
				add(name, it.Attempts)
			}
		}
	}
	return keys
}

// readLogs reads the page of lines after the cursor that q selects (at most limit lines
// and userapi.MaxLogPageBytes of their text) and hands them to emit in time order,
// advancing the cursor past each. The store works out the page and its order in one
// query, naming the lines; their text is then read in batches of about logBatchBytes,
// each handed to emit only once its query is over, so a slow client never holds a
// database connection and a page costs the server about one batch of memory. more
// reports that lines may be waiting after the page.
func (a *Server) readLogs(ctx context.Context, run *aiasv1alpha1.Run, q logQuery, c logCursor, limit int,
	emit func(userapi.LogEntry) error) (more bool, err error) {
	keys := q.keys(run, c)
	refs, more, err := a.Store.PageRunLogs(ctx, string(run.UID), keys, store.RunLogPage{Limit: limit, MaxBytes: userapi.MaxLogPageBytes})
	if err != nil {
		return false, err
	}
	var batch []store.RunLogLine
	for len(refs) > 0 {
		n, size := 0, int64(0)
		for n < len(refs) && (n == 0 || size+refs[n].Bytes <= logBatchBytes) {
			size += refs[n].Bytes
			n++
		}
		batch = batch[:0]
		if err := a.Store.ReadRunLogLines(ctx, string(run.UID), keys, refs[:n], func(l store.RunLogLine) error {
			batch = append(batch, l)
			return nil
		}); err != nil {
			return false, err
		}
		refs = refs[n:]
		for _, l := range batch {
			c[cursorKey(l.Step, l.Attempt, l.Stream)] = l.Seq
			if err := emit(userapi.LogEntry{Step: l.Step, Attempt: l.Attempt, Stream: l.Stream, Seq: l.Seq, Time: l.Time, Line: l.Line}); err != nil {
				return false, err
			}
		}
	}
	return more, nil
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
	follow, _ := strconv.ParseBool(q.Get("follow"))
	follow = follow || strings.Contains(r.Header.Get("Accept"), "text/event-stream")
	if follow {
		// Taken before anything else is read: a refused follow costs no apiserver call
		// and never waits.
		release, err := a.follows.acquire(callerFrom(r.Context()).GetName(), r.PathValue("ns"))
		if err != nil {
			w.Header().Set("Retry-After", strconv.Itoa(int(followRetryAfter.Seconds())))
			httpjson.Error(w, http.StatusTooManyRequests, reasonTooManyFollows, err.Error())
			return
		}
		defer release()
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
	if follow {
		a.followLogs(w, r, run, lq, c)
		return
	}
	a.writeLogPage(w, r, run, lq, c, limit)
}

// writeLogPage answers one LogPage, encoded line by line as the store's batches arrive.
func (a *Server) writeLogPage(w http.ResponseWriter, r *http.Request, run *aiasv1alpha1.Run, q logQuery, c logCursor, limit int) {
	iw := &itemsWriter{w: w}
	if _, err := a.readLogs(r.Context(), run, q, c, limit, func(e userapi.LogEntry) error { return iw.Item(e) }); err != nil {
		iw.fail(a, r, "logs", err)
		return
	}
	iw.Close(struct {
		Cursor   string `json:"cursor"`
		Finished bool   `json:"finished"`
	}{c.encode(), run.Status.Phase.Finished()})
}

// hasStep reports whether name is a step of the Run, or an item of one of its forEach
// steps as its attempts are named (aiasv1alpha1.ItemStepName: `<step>.<index>`).
func hasStep(run *aiasv1alpha1.Run, name string) bool {
	step, index, isItem := strings.Cut(name, ".")
	for _, s := range run.Status.Steps {
		switch {
		case s.Name == name:
			return true
		case isItem && s.Name == step:
			k, err := strconv.Atoi(index)
			// Atoi takes "+3" and "03": only the name ItemStepName gives is the item's.
			return err == nil && k >= 0 && k < len(s.Items) && aiasv1alpha1.ItemStepName(step, k) == name
		}
	}
	return false
}
