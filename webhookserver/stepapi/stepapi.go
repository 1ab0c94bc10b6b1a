// Package stepapi serves the internal step API that step pods talk to (never exposed
// publicly): log appends, artifact uploads, step input and step outcomes, each
// authorized by the per-run token of the Run it writes to.
package stepapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/aias-dev/aias/internal/spool"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// Server is the internal step API: the listener step pods talk to (never exposed
// publicly). Every request carries the per-run token of the Run it writes to.
type Server struct {
	Store  *store.Store
	Tokens *steptoken.Issuer
	// MaxArtifactBytes caps one uploaded artifact (0: only Uploads.SpoolBytes does).
	MaxArtifactBytes int64
	// MaxLogBatch caps the lines of one log append.
	MaxLogBatch int
	// Uploads bound artifact uploads; zero fields take DefaultUploadLimits.
	Uploads UploadLimits
	// Now is the clock tickets are checked against; nil means time.Now.
	Now func() time.Time

	setup   sync.Once
	uploads UploadLimits // Uploads with the defaults filled in
	spool   *spool.Spooler
	slots   uploadSlots
	merged  *semaphore.Weighted // merged step inputs being served
	caps    runCaps
}

// runCaps remembers each Run's byte caps. The Run controller records them when it admits
// the Run, before it creates any step Job, and never changes them, so the first read by a
// step is final: later uploads and log batches skip the query (most Runs have no caps and
// then cost no read at all).
type runCaps struct {
	mu sync.Mutex
	m  map[string]store.RunLimits
}

// maxCachedCaps bounds the cache; past it the cache starts over (a re-read is cheap).
const maxCachedCaps = 50_000

func (c *runCaps) get(ctx context.Context, st *store.Store, runUID string) (store.RunLimits, error) {
	c.mu.Lock()
	l, ok := c.m[runUID]
	c.mu.Unlock()
	if ok {
		return l, nil
	}
	l, _, err := st.RunLimits(ctx, runUID)
	if err != nil {
		return l, err
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedCaps {
		c.m = map[string]store.RunLimits{}
	}
	c.m[runUID] = l
	c.mu.Unlock()
	return l, nil
}

// Handler routes the internal step API.
func (a *Server) Handler() http.Handler {
	a.setup.Do(func() {
		a.uploads = a.Uploads.Or(DefaultUploadLimits())
		a.spool = &spool.Spooler{Dir: a.uploads.SpoolDir, MemoryBytes: spool.DefaultMemoryBytes,
			Memory: semaphore.NewWeighted(a.uploads.SpoolMemoryBytes), Disk: semaphore.NewWeighted(a.uploads.SpoolBytes)}
		a.merged = semaphore.NewWeighted(maxMergedInFlight)
	})
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+stepjob.AttemptPathPattern+stepjob.PathLogs, a.appendLogs)
	mux.HandleFunc("PUT "+stepjob.AttemptPathPattern+stepjob.PathArtifacts+"{name}", a.putArtifact)
	mux.HandleFunc("GET "+stepjob.AttemptPathPattern+stepjob.PathInput, a.stepInput)
	mux.HandleFunc("PUT "+stepjob.AttemptPathPattern+stepjob.PathOutcome, a.putOutcome)
	return mux
}

var (
	dnsLabel = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	// attemptStep is what an attempt is named by: a step, or an item of a forEach
	// step (aiasv1alpha1.ItemStepName).
	attemptStep  = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[0-9]{1,4})?$`)
	artifactName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$`)
)

// stepTarget is the step attempt a request addresses, after authorization.
type stepTarget struct {
	run     steptoken.Run
	step    string
	attempt int
}

// authorize checks a request's credentials against its path, in order: the run token
// (401 missing or forged, 403 another Run's), the attempt ticket (401 missing, forged or
// expired, 403 another attempt's), then that the attempt may still write — 410 RunGone
// once the Run is deleted, 409 RunEnded once it finished, 409 AttemptEnded once the
// attempt reported its outcome (except for a repeated outcome report, reportAgain). A
// token read from a finished Run's Secret thus reaches nothing.
func (a *Server) authorize(w http.ResponseWriter, r *http.Request) (stepTarget, bool) {
	return a.authorizeAttempt(w, r, false)
}

func (a *Server) authorizeAttempt(w http.ResponseWriter, r *http.Request, reportAgain bool) (stepTarget, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || token == "" {
		httpjson.Error(w, http.StatusUnauthorized, "MissingToken", "a step token is required")
		return stepTarget{}, false
	}
	run, err := a.Tokens.Verify(token)
	if err != nil {
		httpjson.Error(w, http.StatusUnauthorized, "InvalidToken", "the step token is not valid")
		return stepTarget{}, false
	}
	if run.Namespace != r.PathValue("namespace") || run.Name != r.PathValue("run") {
		httpjson.Error(w, http.StatusForbidden, "WrongRun", "the step token belongs to another run")
		return stepTarget{}, false
	}
	step := r.PathValue("step")
	attempt, err := strconv.Atoi(r.PathValue("attempt"))
	if !attemptStep.MatchString(step) || len(step) > 63+5 || err != nil || attempt < 1 {
		httpjson.Error(w, http.StatusBadRequest, "BadPath", "step must be a step name (a DNS label, or <step>.<index> for an item of a forEach step) and attempt a positive integer")
		return stepTarget{}, false
	}
	ticket := r.Header.Get(stepjob.TicketHeader)
	if ticket == "" {
		httpjson.Error(w, http.StatusUnauthorized, "MissingTicket", "the step attempt's ticket ("+stepjob.TicketHeader+") is required")
		return stepTarget{}, false
	}
	bound, err := a.Tokens.VerifyAttempt(ticket, a.now())
	switch {
	case errors.Is(err, steptoken.ErrExpired):
		httpjson.Error(w, http.StatusUnauthorized, "ExpiredTicket", "the step attempt's ticket has expired")
		return stepTarget{}, false
	case err != nil:
		httpjson.Error(w, http.StatusUnauthorized, "InvalidTicket", "the step attempt's ticket is not valid")
		return stepTarget{}, false
	case bound.Run != run || bound.Step != step || bound.Attempt != attempt:
		httpjson.Error(w, http.StatusForbidden, "WrongAttempt", "the ticket belongs to another step attempt")
		return stepTarget{}, false
	}
	switch err := a.Store.AttemptOpen(r.Context(), run.UID, step, attempt); {
	case err == nil, reportAgain && errors.Is(err, store.ErrAttemptEnded):
	case errors.Is(err, store.ErrRunGone):
		runGone(w)
		return stepTarget{}, false
	case errors.Is(err, store.ErrRunEnded):
		httpjson.Error(w, http.StatusConflict, "RunEnded", "the run has ended")
		return stepTarget{}, false
	case errors.Is(err, store.ErrAttemptEnded):
		httpjson.Error(w, http.StatusConflict, "AttemptEnded", "the step attempt has reported its outcome")
		return stepTarget{}, false
	default:
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, "StoreUnavailable", "could not check the step attempt")
		return stepTarget{}, false
	}
	return stepTarget{run: run, step: step, attempt: attempt}, true
}

// runGone answers a write for a deleted Run (checked up front, and again inside the
// write's transaction, where the finalizer cannot slip in between).
func runGone(w http.ResponseWriter) {
	httpjson.Error(w, http.StatusGone, "RunGone", "the run no longer exists")
}

func (a *Server) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// Caps of a log append. A longer line is refused (step-run cuts its lines at this size);
// the body cap leaves room for a full batch of ordinary lines, and step-run keeps its
// bodies well under it.
const (
	MaxLogLineBytes = 64 << 10
	maxLogBodyBytes = 8 << 20
)

func (a *Server) appendLogs(w http.ResponseWriter, r *http.Request) {
	t, ok := a.authorize(w, r)
	if !ok {
		return
	}
	var batch stepjob.LogBatch
	if err := decodeJSON(w, r, maxLogBodyBytes, &batch); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			httpjson.Error(w, http.StatusRequestEntityTooLarge, "BodyTooLarge", fmt.Sprintf("a log batch's body may hold at most %d bytes", maxLogBodyBytes))
			return
		}
		httpjson.Error(w, http.StatusBadRequest, "BadBody", "body must be JSON {\"lines\": [...]}: "+err.Error())
		return
	}
	if a.MaxLogBatch > 0 && len(batch.Lines) > a.MaxLogBatch {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "BatchTooLarge", fmt.Sprintf("at most %d lines per batch", a.MaxLogBatch))
		return
	}
	if status, reason, msg := checkLines(batch.Lines); status != 0 {
		httpjson.Error(w, status, reason, msg)
		return
	}
	limits, err := a.caps.get(r.Context(), a.Store, t.run.UID)
	if err != nil {
		storeUnavailable(w, "could not read the run's limits")
		return
	}
	target := store.LogTarget{Namespace: t.run.Namespace, RunUID: t.run.UID, Step: t.step, Attempt: t.attempt}
	var n int64
	if limits.LogBytes != nil {
		// The new lines' bytes are reserved against the cap in the transaction that
		// stores them: batches in parallel never together pass it.
		n, err = a.Store.AppendCappedLogs(r.Context(), target, batch.Lines)
	} else {
		n, err = a.Store.AppendLogs(r.Context(), target, batch.Lines)
	}
	var quota *store.QuotaError
	switch {
	case errors.As(err, &quota):
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "RunLogQuota", fmt.Sprintf("the run's logs would exceed its plan's logBytesPerRun (%d bytes; %d stored)", quota.Cap, quota.Used))
		return
	case store.IsDataError(err):
		// Retrying cannot change PostgreSQL's mind: a 503 here would have step-run resend
		// the batch for minutes and hold back every line after it.
		httpjson.Error(w, http.StatusBadRequest, "Unstorable", "the store refused the batch's content: "+err.Error())
		return
	case errors.Is(err, store.ErrRunGone):
		runGone(w)
		return
	case err != nil:
		httpjson.Error(w, http.StatusServiceUnavailable, "StoreUnavailable", "could not store log lines")
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]int64{"inserted": n})
}

// checkLines validates a batch: the answer's status (0: valid), reason and message.
func checkLines(lines []stepjob.LogLine) (int, string, string) {
	type key struct {
		stream string
		seq    int64
	}
	seen := make(map[key]bool, len(lines))
	for _, l := range lines {
		switch {
		case !stepjob.ValidStream(l.Stream) || l.Seq < 1:
			return http.StatusBadRequest, "BadLine", "each line needs stream stdout|stderr|system and seq >= 1"
		case l.Raw != nil && l.Line != "":
			return http.StatusBadRequest, "BadLine", "a line carries its bytes in line or in raw, not in both"
		case store.LogLineBytes(l) > MaxLogLineBytes:
			return http.StatusRequestEntityTooLarge, "LineTooLong", fmt.Sprintf("a log line may hold at most %d bytes", MaxLogLineBytes)
		case seen[key{l.Stream, l.Seq}]:
			return http.StatusBadRequest, "BadLine", fmt.Sprintf("%s line %d appears twice in the batch", l.Stream, l.Seq)
		}
		seen[key{l.Stream, l.Seq}] = true
	}
	return 0, "", ""
}

// decodeJSON reads exactly one JSON value of at most limit bytes from the body into v.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err
		}
		return errors.New("unexpected data after the JSON value")
	}
	return nil
}

// maxOutcomeMessage bounds the reason text that ends up in a Run's status.
const maxOutcomeMessage = 1024

// putOutcome records how a step attempt ended; the Run controller reads it once the
// attempt's Job has finished.
func (a *Server) putOutcome(w http.ResponseWriter, r *http.Request) {
	t, ok := a.authorizeAttempt(w, r, true)
	if !ok {
		return
	}
	var body stepjob.Outcome
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&body); err != nil || body.ExitCode == nil {
		httpjson.Error(w, http.StatusBadRequest, "BadBody", "body must be JSON {\"exitCode\": <int>, \"message\": \"...\"}")
		return
	}
	msg := body.Message
	if len(msg) > maxOutcomeMessage {
		msg = msg[:maxOutcomeMessage]
	}
	o := store.StepOutcome{ExitCode: *body.ExitCode, Message: msg}
	if body.RunSeconds > 0 {
		o.RunSeconds = &body.RunSeconds
	}
	err := a.Store.RecordStepOutcome(r.Context(), t.run.UID, t.step, t.attempt, o)
	if errors.Is(err, store.ErrRunGone) {
		runGone(w)
		return
	}
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "StoreUnavailable", "could not record the outcome")
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
