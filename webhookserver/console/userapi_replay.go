package console

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"

	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// Replay verdicts, per step and for the whole Run.
const (
	verdictMatch       = "match"
	verdictDiffers     = "differs"
	verdictPending     = "pending"
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
	rep := &aiasv1alpha1.Run{
		// The finalizer at create saves the Run controller a write.
		ObjectMeta: metav1.ObjectMeta{Namespace: orig.Namespace, Finalizers: []string{aiasv1alpha1.RunFinalizer}},
		Spec: aiasv1alpha1.RunSpec{
			WorkflowRef: orig.Spec.WorkflowRef, Input: orig.Spec.Input, InputRef: orig.Spec.InputRef, Params: orig.Spec.Params,
			Trigger: &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerReplay}, ReplayOf: orig.Name,
		},
	}
	prefix := strings.TrimRight(truncate(orig.Name, 40), "-.") + "-replay-"
	if key := r.Header.Get("Idempotency-Key"); key != "" {
		sum := sha256.Sum256([]byte(string(orig.UID) + "\x00" + key))
		rep.Name = prefix + hex.EncodeToString(sum[:])[:10]
	} else {
		rep.GenerateName = prefix
	}
	a.createRun(w, r, rep)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
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
