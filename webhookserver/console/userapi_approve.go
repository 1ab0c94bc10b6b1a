package console

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// Approval gates are decided here and only here: the decision goes to the store (the
// first one on a gate wins), then an annotation on the Run wakes the Run controller,
// which reads the store and applies it. The annotation carries no decision, so an
// editor who may patch Runs still cannot decide a gate around these checks.

// maxDecisionBody bounds an approve or reject request: a comment at its cap with every
// byte escaped as JSON (\u00XX), and room for the braces.
const maxDecisionBody = 6*userapi.MaxApprovalComment + 256

// maxDeciderName is the longest user name a decision can carry: the Run status field
// that records it (status.steps[].approval.by) holds at most 253 characters, and a
// status the apiserver refuses would stall the Run.
const maxDeciderName = 253

func (a *Server) approve(w http.ResponseWriter, r *http.Request) {
	a.decide(w, r, aiasv1alpha1.ApprovalApproved)
}

func (a *Server) reject(w http.ResponseWriter, r *http.Request) {
	a.decide(w, r, aiasv1alpha1.ApprovalRejected)
}

// decide records the caller's decision on a gate of a Run. SubjectAccessReview (create
// runs/approve) passed before; the gate's approvers narrow it further. The comment is
// the caller's own words: it is stored and shown, never logged.
func (a *Server) decide(w http.ResponseWriter, r *http.Request, decision string) {
	req, ok := readDecision(w, r)
	if !ok {
		return
	}
	ctx := r.Context()
	ns, runName, stepName := r.PathValue("ns"), r.PathValue("run"), r.PathValue("step")
	run, err := a.fetchRun(ctx, ns, runName)
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	spec, err := a.frozenSpec(ctx, run.Status.SpecDigest)
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	if spec == nil {
		// Not started: nothing of it waits yet, whatever its Workflow says now.
		httpjson.Error(w, http.StatusConflict, "NotWaiting", "run "+runName+" has not started: none of its steps waits for a decision yet")
		return
	}
	step := specStep(spec, stepName)
	if step == nil {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "run "+runName+" has no step "+stepName)
		return
	}
	if step.Approval == nil {
		httpjson.Error(w, http.StatusConflict, "NotAGate", "step "+stepName+" of run "+runName+" is not an approval gate")
		return
	}
	u := callerFrom(ctx)
	if !runengine.MayDecide(step.Approval, u.GetName(), u.GetGroups()) {
		httpjson.Error(w, http.StatusForbidden, "NotAnApprover", fmt.Sprintf("%s may not decide step %s of run %s: its approvers are %s",
			u.GetName(), stepName, runName, approversText(step.Approval.Approvers)))
		return
	}
	if len(u.GetName()) > maxDeciderName {
		httpjson.Error(w, http.StatusUnprocessableEntity, "NameTooLong",
			fmt.Sprintf("a decision records who made it in at most %d bytes, and your user name is longer", maxDeciderName))
		return
	}
	mine := store.Approval{RunUID: string(run.UID), Namespace: ns, Step: stepName, Decision: decision, By: u.GetName(), Comment: req.Comment}
	st := stepStatus(run, stepName)
	if st.Approval != nil {
		// Applied already (by a person or the timeout).
		a.decided(w, run, stepName, statusApproval(*st.Approval), mine)
		return
	}
	if refusal := notWaiting(run, step, st, time.Now()); refusal != "" {
		httpjson.Error(w, http.StatusConflict, "NotWaiting", refusal)
		return
	}
	got, err := a.Store.RecordApproval(ctx, mine)
	switch {
	case errors.Is(err, store.ErrAlreadyDecided):
		// Recorded but not applied yet: wake the controller again, in case the request
		// that recorded it failed before it could (its retry comes this way).
		if err := a.wake(r, run, stepName); err != nil {
			a.wakeFailed(w, err)
			return
		}
		a.decided(w, run, stepName, approvalOf(got), mine)
		return
	case errors.Is(err, store.ErrRunGone):
		httpjson.Error(w, http.StatusNotFound, "NotFound", "run not found")
		return
	case err != nil:
		a.apiFailure(w, "run", err)
		return
	}
	if err := a.wake(r, run, stepName); err != nil {
		a.wakeFailed(w, err)
		return
	}
	httpjson.Write(w, http.StatusOK, decisionOf(run, stepName, approvalOf(got)))
}

// readDecision reads the optional body: {"comment": "..."}, the comment at most
// MaxApprovalComment bytes and free of control characters other than newlines and tabs
// (it is shown in terminals and pages).
func readDecision(w http.ResponseWriter, r *http.Request) (userapi.DecisionRequest, bool) {
	var req userapi.DecisionRequest
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDecisionBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "TooLarge", "the request body is too large")
		return req, false
	case err != nil:
		badRequest(w, "the request body could not be read")
		return req, false
	}
	if len(strings.TrimSpace(string(raw))) > 0 {
		if err := json.Unmarshal(raw, &req); err != nil {
			badRequest(w, "the body is not a JSON DecisionRequest: "+err.Error())
			return req, false
		}
	}
	req.Comment = strings.TrimSpace(strings.ReplaceAll(req.Comment, "\r\n", "\n"))
	if len(req.Comment) > userapi.MaxApprovalComment {
		httpjson.Error(w, http.StatusRequestEntityTooLarge, "TooLarge", fmt.Sprintf("the comment is over %d bytes", userapi.MaxApprovalComment))
		return req, false
	}
	if strings.IndexFunc(req.Comment, func(c rune) bool { return unicode.IsControl(c) && c != '\n' && c != '\t' }) >= 0 {
		badRequest(w, "the comment may hold no control characters other than newlines and tabs")
		return req, false
	}
	return req, true
}

// decided answers a request that found the gate decided: 200 with that decision when it
// is this very one again (the same user, decision and comment: a retried request), else
// 409 AlreadyDecided with the decision that stands.
func (a *Server) decided(w http.ResponseWriter, run *aiasv1alpha1.Run, step string, stands userapi.Approval, mine store.Approval) {
	d := decisionOf(run, step, stands)
	if !stands.TimedOut && stands.By == mine.By && stands.Decision == mine.Decision && stands.Comment == mine.Comment {
		httpjson.Write(w, http.StatusOK, d)
		return
	}
	how := "by " + stands.By
	if stands.TimedOut {
		how = "by its timeout"
	}
	msg := fmt.Sprintf("step %s of run %s was %s %s at %s", step, run.Name, strings.ToLower(stands.Decision), how, stands.Time.UTC().Format(time.RFC3339))
	httpjson.Write(w, http.StatusConflict, userapi.DecisionConflict{Error: msg, Reason: "AlreadyDecided", Decision: d})
}

// notWaiting says why a gate without a decision takes none now ("" when it does).
func notWaiting(run *aiasv1alpha1.Run, step *aiasv1alpha1.WorkflowStep, st aiasv1alpha1.StepStatus, now time.Time) string {
	phase := phaseOr(st.Phase)
	switch {
	case run.Status.Phase.Finished():
		return fmt.Sprintf("run %s ended %s", run.Name, run.Status.Phase)
	case phase == aiasv1alpha1.StepPending:
		return fmt.Sprintf("step %s of run %s has not been reached yet (Pending): it waits for a decision once the steps before it are done", st.Name, run.Name)
	case phase != aiasv1alpha1.StepWaiting:
		return fmt.Sprintf("step %s of run %s is %s, not waiting for a decision", st.Name, run.Name, phase)
	}
	// Past its deadline the timeout decides, even before the controller has applied it.
	if st.StartTime != nil {
		timeout := runengine.ApprovalTimeout(step.Approval)
		if deadline := st.StartTime.Add(timeout); !now.Before(deadline) {
			return fmt.Sprintf("step %s of run %s waited its timeout (%s) until %s: its onTimeout decides", st.Name, run.Name,
				timeout, deadline.UTC().Format(time.RFC3339))
		}
	}
	return ""
}

// wake sets the Run's aias.dev/approval-decided to a new value: the Run controller
// reconciles it and reads the decision from the store.
func (a *Server) wake(r *http.Request, run *aiasv1alpha1.Run, step string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		aiasv1alpha1.AnnotationApprovalDecided: step + "@" + time.Now().UTC().Format(time.RFC3339Nano)}}})
	target := &aiasv1alpha1.Run{}
	target.Namespace, target.Name = run.Namespace, run.Name
	return a.Client.Patch(r.Context(), target, client.RawPatch(types.MergePatchType, patch))
}

// wakeFailed answers a decision recorded but not yet seen by the Run controller: the
// same request again wakes it (and answers the decision).
func (a *Server) wakeFailed(w http.ResponseWriter, err error) {
	if apierrors.IsNotFound(err) {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "run not found")
		return
	}
	a.Log.Error(err, "waking a run after an approval decision")
	httpjson.Error(w, http.StatusServiceUnavailable, "Unavailable",
		"the decision was recorded but the run could not be told; send the same request again")
}

// specStep is the frozen spec's step (or finally step) of that name.
func specStep(spec *aiasv1alpha1.WorkflowSpec, name string) *aiasv1alpha1.WorkflowStep {
	for _, list := range [][]aiasv1alpha1.WorkflowStep{spec.Steps, spec.Finally} {
		for i := range list {
			if list[i].Name == name {
				return &list[i]
			}
		}
	}
	return nil
}

// stepStatus is the Run's status of a step (a Pending one when the status lists none).
func stepStatus(run *aiasv1alpha1.Run, name string) aiasv1alpha1.StepStatus {
	for _, st := range run.Status.Steps {
		if st.Name == name {
			return st
		}
	}
	return aiasv1alpha1.StepStatus{Name: name, Phase: aiasv1alpha1.StepPending}
}

func approversText(list []aiasv1alpha1.Approver) string {
	names := make([]string, len(list))
	for i, ap := range list {
		names[i] = ap.Kind + " " + ap.Name
	}
	return strings.Join(names, ", ")
}

func approvalOf(a store.Approval) userapi.Approval {
	return userapi.Approval{Decision: a.Decision, By: a.By, Comment: a.Comment, Time: a.DecidedAt}
}

func decisionOf(run *aiasv1alpha1.Run, step string, a userapi.Approval) userapi.Decision {
	return userapi.Decision{Namespace: run.Namespace, Run: run.Name, Step: step, Approval: a}
}
