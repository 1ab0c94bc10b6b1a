package stepapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/httpbound"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// stepInput serves what a step reads on stdin and in $AIAS_INPUT:
//   - no ?from: the Run's input, byte for byte (a webhook payload reaches the first step unchanged);
//   - ?from=a: the `result` of step a, streamed;
//   - ?from=a,b: a JSON object {"a": <result>, "b": <result>}, streamed (mergedInput).
func (a *Server) stepInput(w http.ResponseWriter, r *http.Request) {
	t, ok := a.authorize(w, r)
	if !ok {
		return
	}
	// A dependency's result streams whatever its size, longer than the listener's write
	// timeout allows; each write must instead get through within its stream timeout.
	w, r = httpbound.Stream(w, r)
	var deps []string
	if from := r.URL.Query().Get("from"); from != "" {
		deps = strings.Split(from, ",")
	}
	for _, d := range deps {
		if !dnsLabel.MatchString(d) {
			httpjson.Error(w, http.StatusBadRequest, "BadFrom", "from lists step names")
			return
		}
	}
	switch len(deps) {
	case 0:
		content, contentType, err := a.Store.RunInput(r.Context(), t.run.Namespace, t.run.UID)
		if errors.Is(err, store.ErrNotFound) {
			httpjson.Error(w, http.StatusNotFound, "RunNotIndexed", "the run is not in the run index yet")
			return
		}
		if err != nil {
			httpjson.Error(w, http.StatusServiceUnavailable, "StoreUnavailable", "could not read the run input")
			return
		}
		if contentType == "" {
			contentType = "application/octet-stream"
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(content)
	case 1:
		res, body, size, err := a.openResult(r.Context(), t.run.UID, deps[0])
		if err != nil {
			writeResultError(w, deps[0], err)
			return
		}
		defer body.Close()
		w.Header().Set("Content-Type", res.ContentType)
		w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
		_, _ = io.Copy(w, body)
	default:
		a.mergedInput(w, r, t, deps)
	}
}

// openResult streams the `result` artifact of a step's latest attempt.
func (a *Server) openResult(ctx context.Context, runUID, step string) (store.Artifact, io.ReadCloser, int64, error) {
	res, err := a.Store.StepResult(ctx, runUID, step)
	if err != nil {
		return res, nil, 0, err
	}
	body, size, err := a.Store.OpenBlob(ctx, res.Digest)
	return res, body, size, err
}

func writeResultError(w http.ResponseWriter, step string, err error) {
	if errors.Is(err, store.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "NoResult", fmt.Sprintf("step %s has no result", step))
		return
	}
	httpjson.Error(w, http.StatusServiceUnavailable, "StoreUnavailable", "could not read a step result")
}
