package stepapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aias-dev/aias/internal/spool"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/httpbound"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// MaxArtifactsPerAttempt caps the artifacts of one step attempt (the result and the
// files of $AIAS_OUTPUT_DIR).
const MaxArtifactsPerAttempt = 100

// putArtifact stores an upload in two stages, so that no database connection waits on a
// client: the body is read to its end first (spooled: hashed as it arrives, in memory up
// to 1 MiB, then in a temporary file), within the upload's deadline and byte limit; only
// then does a transaction open, reserve the Run's caps and write (store.WriteArtifact).
func (a *Server) putArtifact(w http.ResponseWriter, r *http.Request) {
	t, ok := a.authorize(w, r)
	if !ok {
		return
	}
	// Until the body is read to its end, a refusal closes the connection: the client
	// learns at once, instead of the server first reading (and discarding) what is left.
	unread := w.Header()
	unread.Set("Connection", "close")
	name := r.PathValue("name")
	if !artifactName.MatchString(name) || strings.Contains(name, "..") {
		httpjson.Error(w, http.StatusBadRequest, "BadName", "artifact names are letters, digits, '.', '_' and '-'")
		return
	}
	maxBytes := a.maxArtifactBytes()
	if r.ContentLength > maxBytes {
		tooLarge(w, maxBytes)
		return
	}
	contentType := r.Header.Get("Content-Type")
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	if bad := store.CheckContentType(contentType); bad != nil {
		httpjson.Error(w, http.StatusBadRequest, bad.Reason, bad.Message)
		return
	}
	release, reason, msg := a.slots.acquire(t, a.uploads)
	if release == nil {
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusTooManyRequests, reason, msg)
		return
	}
	defer release()
	// An upload of up to --max-artifact-bytes may take longer than the listener's read
	// timeout: each read of the body must instead make progress within its stream
	// timeout, and all of it, store write included, end by the upload's deadline.
	deadline := time.Now().Add(a.uploads.Timeout)
	ctx, cancel := context.WithDeadline(r.Context(), deadline)
	defer cancel()
	w, r = httpbound.StreamUntil(w, r, deadline)

	key := store.ArtifactKey{Namespace: t.run.Namespace, RunName: t.run.Name, RunUID: t.run.UID, Step: t.step, Attempt: t.attempt, Name: name}
	// What the Run's other artifacts leave of its plan's artifactBytesPerRun bounds what
	// is read, so that an upload that cannot fit is refused before or while it is read.
	// It is a hint: the write's transaction reserves the cap (uploads in parallel see the
	// same remainder here).
	limits, err := a.caps.get(ctx, a.Store, t.run.UID)
	if err != nil {
		storeUnavailable(w, "could not read the run's limits")
		return
	}
	limit, planCap := maxBytes, false
	if c := limits.ArtifactBytes; c != nil {
		used, err := a.Store.ArtifactBytes(ctx, t.run.UID, key)
		if err != nil {
			storeUnavailable(w, "could not read the run's usage")
			return
		}
		if remaining := max(*c-used, 0); remaining < limit {
			limit, planCap = remaining, true
		}
		if limit == 0 || r.ContentLength > limit {
			artifactQuota(w, &store.QuotaError{Quota: store.ErrRunArtifactQuota, Cap: *c, Used: used})
			return
		}
	}

	content, err := a.spool.Spool(r.Body, limit, r.ContentLength)
	switch {
	case errors.Is(err, spool.ErrTooLarge) && planCap:
		artifactQuota(w, &store.QuotaError{Quota: store.ErrRunArtifactQuota, Cap: *limits.ArtifactBytes, Used: *limits.ArtifactBytes - limit})
		return
	case errors.Is(err, spool.ErrTooLarge):
		tooLarge(w, maxBytes)
		return
	case errors.Is(err, spool.ErrFull):
		w.Header().Set("Retry-After", "5")
		httpjson.Error(w, http.StatusServiceUnavailable, "SpoolFull", "the server is reading its most upload bytes at once; retry shortly")
		return
	case errors.Is(err, spool.ErrIO):
		storeUnavailable(w, "could not spool the upload")
		return
	case errors.Is(err, os.ErrDeadlineExceeded) && time.Now().Before(deadline):
		httpjson.Error(w, http.StatusRequestTimeout, "UploadTimeout", "the upload stalled: a read of its body made no progress within the stream timeout")
		return
	case errors.Is(err, os.ErrDeadlineExceeded) || (err != nil && ctx.Err() != nil):
		uploadTimeout(w, a.uploads.Timeout)
		return
	case err != nil:
		httpjson.Error(w, http.StatusBadRequest, "BadBody", "could not read the upload: "+err.Error())
		return
	}
	defer content.Close()
	unread.Del("Connection")
	if want := r.Header.Get(stepjob.DigestHeader); want != "" && want != content.Digest {
		httpjson.Error(w, http.StatusBadRequest, "DigestMismatch", "content does not match "+stepjob.DigestHeader)
		return
	}

	art, err := a.Store.WriteArtifact(ctx, key, contentType, content, MaxArtifactsPerAttempt)
	var quota *store.QuotaError
	switch {
	case errors.As(err, &quota):
		artifactQuota(w, quota)
	case errors.Is(err, store.ErrTooManyArtifacts):
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "TooManyArtifacts", fmt.Sprintf("a step attempt may store at most %d artifacts", MaxArtifactsPerAttempt))
	case store.IsDataError(err):
		httpjson.Error(w, http.StatusBadRequest, "Unstorable", "the store refused the artifact: "+err.Error())
	case errors.Is(err, store.ErrRunGone):
		runGone(w)
	case err != nil && r.Context().Err() == nil && ctx.Err() != nil:
		uploadTimeout(w, a.uploads.Timeout)
	case err != nil:
		storeUnavailable(w, "could not store the artifact")
	default:
		httpjson.Write(w, http.StatusCreated, map[string]any{"name": art.Name, "digest": art.Digest, "size": art.Size, "contentType": art.ContentType})
	}
}

// maxArtifactBytes is the largest upload: --max-artifact-bytes, and never more than the
// spool can hold.
func (a *Server) maxArtifactBytes() int64 {
	if a.MaxArtifactBytes > 0 && a.MaxArtifactBytes < a.uploads.SpoolBytes {
		return a.MaxArtifactBytes
	}
	return a.uploads.SpoolBytes
}

func tooLarge(w http.ResponseWriter, maxBytes int64) {
	httpjson.Error(w, http.StatusRequestEntityTooLarge, "TooLarge", fmt.Sprintf("artifact exceeds %d bytes", maxBytes))
}

func artifactQuota(w http.ResponseWriter, q *store.QuotaError) {
	httpjson.Error(w, http.StatusRequestEntityTooLarge, "RunArtifactQuota",
		fmt.Sprintf("the run's artifacts would exceed its plan's artifactBytesPerRun (%d bytes; %d used)", q.Cap, q.Used))
}

func uploadTimeout(w http.ResponseWriter, d time.Duration) {
	httpjson.Error(w, http.StatusRequestTimeout, "UploadTimeout", fmt.Sprintf("an upload must complete within %s", d))
}

func storeUnavailable(w http.ResponseWriter, msg string) {
	w.Header().Set("Retry-After", "1")
	httpjson.Error(w, http.StatusServiceUnavailable, "StoreUnavailable", msg)
}
