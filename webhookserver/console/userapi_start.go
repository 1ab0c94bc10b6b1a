package console

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/params"
	"github.com/aias-dev/aias/internal/runs"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// maxStartBody bounds a start request: the inline input cap plus every parameter at its
// cap, with room for JSON quoting.
const maxStartBody = 2*userapi.MaxStartInput + 2*aiasv1alpha1.MaxParams*(aiasv1alpha1.MaxParamValueLength+128)

// startRun creates a manual Run of a Workflow with parameter values (the caller may
// create runs: SubjectAccessReview). The values are checked against the Workflow now,
// so a typo is a 422 naming the parameter instead of a Rejected Run; the Run controller
// checks again against the spec it freezes. With an Idempotency-Key header the Run's name
// derives from it (and the caller), so a retried request finds the Run it already made
// (200); without one each request is a new Run (runs.New).
func (a *Server) startRun(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("wf")
	var req userapi.StartRun
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxStartBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "TooLarge", "the request body is too large")
		return
	case err != nil:
		badRequest(w, "the request body could not be read")
		return
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &req); err != nil {
			badRequest(w, "the body is not a JSON StartRun: "+err.Error())
			return
		}
	}
	if req.Input != nil && len(*req.Input) > userapi.MaxStartInput {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "TooLarge", "input is over 16384 bytes")
		return
	}
	wf := &aiasv1alpha1.Workflow{}
	if err := a.Client.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: name}, wf); err != nil {
		a.apiFailure(w, "workflow", err)
		return
	}
	if _, err := params.Resolve(wf.Spec.Params, req.Params); err != nil {
		httpjson.Error(w, http.StatusUnprocessableEntity, "InvalidParams", err.Error())
		return
	}
	a.createRun(w, r, runs.Request{
		Namespace: ns, Workflow: aiasv1alpha1.WorkflowReference{Name: name},
		Trigger: aiasv1alpha1.TriggerManual, Source: runs.Source{Name: wf.Name, UID: string(wf.UID)},
		Caller: callerFrom(r.Context()).GetName(), IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Params: req.Params, Input: runs.Input{Inline: req.Input},
	})
}

// createRun creates the Run the API builds for the caller (a manual run, a replay, a
// redelivery) and answers: 201, or 200 when a Run of that name exists already and the
// request is repeatable (an Idempotency-Key repeated), 409 with the apiserver's reason
// when the schema or admission (a plan limit) refuses it.
func (a *Server) createRun(w http.ResponseWriter, r *http.Request, req runs.Request) {
	run, err := runs.New(req)
	if err != nil {
		a.Log.Error(err, "building a run", "namespace", req.Namespace, "trigger", req.Trigger)
		httpjson.Error(w, http.StatusInternalServerError, "InternalError", "the run could not be built")
		return
	}
	status := http.StatusCreated
	if err := a.Client.Create(r.Context(), run); apierrors.IsAlreadyExists(err) && req.Repeatable() {
		status = http.StatusOK
	} else if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) || apierrors.IsAlreadyExists(err) {
		httpjson.Error(w, http.StatusConflict, "Conflict", err.Error())
		return
	} else if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	httpjson.Write(w, status, userapi.RunRef{Namespace: run.Namespace, Run: run.Name, Status: "created"})
}
