package console

import (
	"net/http"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"

	"github.com/aias-dev/aias/internal/runs"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// resume creates a Run that resumes a Failed or Canceled one (spec.resumeOf): the Run
// controller runs the original's frozen spec with its input and params, and the steps that
// Succeeded there take their outputs (status.steps[].cachedFrom) instead of running again.
// It copies what replay copies; the Idempotency-Key works as replay's does. A Run still
// running has nothing to resume yet (409 NotFinished), nor has one that Succeeded, or was
// Rejected before any step ran (409 NothingToResume).
func (a *Server) resume(w http.ResponseWriter, r *http.Request) {
	orig, err := a.fetchRun(r.Context(), r.PathValue("ns"), r.PathValue("run"))
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	switch phase := orig.Status.Phase; phase {
	case aiasv1alpha1.RunFailed, aiasv1alpha1.RunCanceled:
	case aiasv1alpha1.RunSucceeded:
		httpjson.Error(w, http.StatusConflict, "NothingToResume", "run "+orig.Name+" Succeeded: nothing failed, so there is nothing to resume (replay it to run it again)")
		return
	case aiasv1alpha1.RunRejected:
		httpjson.Error(w, http.StatusConflict, "NothingToResume", "run "+orig.Name+" was Rejected before any step ran: there is nothing to resume (replay it to run it again)")
		return
	default:
		if phase == "" {
			phase = aiasv1alpha1.RunPending
		}
		httpjson.Error(w, http.StatusConflict, "NotFinished", "run "+orig.Name+" is "+string(phase)+": only a Failed or Canceled Run can be resumed")
		return
	}
	a.createRun(w, r, runs.Request{
		Namespace: orig.Namespace, Workflow: orig.Spec.WorkflowRef,
		Trigger: aiasv1alpha1.TriggerResume, Source: runs.Source{Name: orig.Name, UID: string(orig.UID)},
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Params:         orig.Spec.Params, Input: runs.Input{Inline: orig.Spec.Input, Ref: orig.Spec.InputRef},
	})
}
