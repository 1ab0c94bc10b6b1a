package console

import (
	"context"
	"net/http"

	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"

	"github.com/aias-dev/aias/internal/runs"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// Replay verdicts, per step and for the whole Run.
const (
	verdictMatch   = "match"
	verdictDiffers = "differs"
	verdictPending = "pending"
	// verdictCached: the replay's step took a cached attempt's outputs (issue 24): its
	// digest equals the original's by construction and proves nothing about determinism,
	// so it does not count towards the Run's verdict.
	verdictCached      = "cached"
	verdictUnavailable = "unavailable" // the original Run is gone
)

// replay creates a Run of the same Workflow with the same input, marked as a replay of
// the original. With an Idempotency-Key header the new Run's name derives from it, so a
// retried request (a double click, a lost response) finds the Run it already made.
func (a *Server) replay(w http.ResponseWriter, r *http.Request) {
	orig, err := a.fetchRun(r.Context(), r.PathValue("ns"), r.PathValue("run"))
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	a.createRun(w, r, runs.Request{
		Namespace: orig.Namespace, Workflow: orig.Spec.WorkflowRef,
		Trigger: aiasv1alpha1.TriggerReplay, Source: runs.Source{Name: orig.Name, UID: string(orig.UID)},
		IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Params:         orig.Spec.Params, Input: runs.Input{Inline: orig.Spec.Input, Ref: orig.Spec.InputRef},
	})
}

// cancel sets spec.cancel; the Run controller stops the Jobs and ends the Run Canceled.
func (a *Server) cancel(w http.ResponseWriter, r *http.Request) {
	run, err := a.fetchRun(r.Context(), r.PathValue("ns"), r.PathValue("run"))
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	if run.Status.Phase.Finished() {
		httpjson.Error(w, http.StatusConflict, "Conflict", "run "+run.Name+" already ended "+string(run.Status.Phase))
		return
	}
	if !run.Spec.Cancel {
		patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"cancel":true}}`))
		if err := a.Client.Patch(r.Context(), run, patch); err != nil {
			a.apiFailure(w, "run", err)
			return
		}
	}
	httpjson.Write(w, http.StatusAccepted, userapi.RunRef{Namespace: run.Namespace, Run: run.Name, Status: "canceling"})
}

// replayCheck compares, step by step, the `result` digests of a replay and its original:
// equal digests mean the step produced byte-identical output from the same input.
func (a *Server) replayCheck(ctx context.Context, run *aiasv1alpha1.Run) *userapi.ReplayCheck {
	c := &userapi.ReplayCheck{Of: run.Spec.ReplayOf, Steps: []userapi.ReplayStep{}}
	orig, err := a.fetchRun(ctx, run.Namespace, run.Spec.ReplayOf)
	if err != nil {
		c.Verdict = verdictUnavailable
		return c
	}
	c.SameSpec = orig.Status.SpecDigest != "" && orig.Status.SpecDigest == run.Status.SpecDigest
	origSteps := map[string]aiasv1alpha1.StepStatus{}
	for _, s := range orig.Status.Steps {
		origSteps[s.Name] = s
	}
	c.Verdict = verdictMatch
	for _, s := range run.Status.Steps {
		o := origSteps[s.Name]
		rs := userapi.ReplayStep{Name: s.Name, Original: o.OutputDigest, Replay: s.OutputDigest}
		switch {
		case s.CachedFrom != nil:
			rs.Match, rs.CachedFrom = verdictCached, s.CachedFrom.Run+"/"+s.CachedFrom.Step
		case !stepDone(s.Phase) || !stepDone(o.Phase):
			rs.Match = verdictPending
		case rs.Original == rs.Replay:
			rs.Match = verdictMatch
		default:
			rs.Match = verdictDiffers
		}
		c.Steps = append(c.Steps, rs)
		switch {
		case rs.Match == verdictDiffers:
			c.Verdict = verdictDiffers
		case rs.Match == verdictPending && c.Verdict == verdictMatch:
			c.Verdict = verdictPending
		}
	}
	if len(c.Steps) == 0 {
		c.Verdict = verdictPending
	}
	return c
}

func stepDone(p aiasv1alpha1.StepPhase) bool {
	switch p {
	case aiasv1alpha1.StepSucceeded, aiasv1alpha1.StepFailed, aiasv1alpha1.StepSkipped, aiasv1alpha1.StepCanceled:
		return true
	}
	return false
}
