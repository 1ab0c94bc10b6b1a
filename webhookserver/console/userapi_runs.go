package console

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/store"

	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

const (
	defaultPageSize = 50
	maxPageSize     = 500
)

// listRuns pages through the store's run index, never the apiserver: the cost of a page
// does not grow with the number of runs.
func (a *Server) listRuns(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.RunFilter{Namespace: r.PathValue("ns"), Workflow: q.Get("workflow"), Phase: q.Get("phase"), Endpoint: q.Get("endpoint")}
	var err error
	if f.CreatedFrom, err = parseTime(q.Get("since")); err != nil {
		badRequest(w, "since: "+err.Error())
		return
	}
	if f.CreatedTo, err = parseTime(q.Get("until")); err != nil {
		badRequest(w, "until: "+err.Error())
		return
	}
	limit := defaultPageSize
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxPageSize {
			badRequest(w, fmt.Sprintf("limit must be a number from 1 to %d", maxPageSize))
			return
		}
	}
	page, err := a.Store.ListRuns(r.Context(), f, limit, q.Get("continue"))
	if errors.Is(err, store.ErrBadContinue) {
		badRequest(w, "continue: not a token this API issued")
		return
	}
	if err != nil {
		a.apiFailure(w, "runs", err)
		return
	}
	out := userapi.RunList{Items: make([]userapi.RunSummary, 0, len(page.Runs)), Continue: page.Continue}
	for _, rec := range page.Runs {
		out.Items = append(out.Items, summaryOf(rec))
	}
	httpjson.Write(w, http.StatusOK, out)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, errors.New("want an RFC 3339 time such as 2026-11-26T10:00:00Z")
	}
	return t, nil
}

func summaryOf(rec store.RunRecord) userapi.RunSummary {
	return userapi.RunSummary{Namespace: rec.Namespace, Name: rec.Name, UID: rec.UID, Workflow: rec.Workflow, Phase: rec.Phase,
		Trigger: rec.Trigger, Endpoint: rec.Endpoint, CreatedAt: rec.CreatedAt, StartedAt: rec.StartedAt, FinishedAt: rec.FinishedAt,
		DurationSeconds: seconds(rec.StartedAt, rec.FinishedAt)}
}

func seconds(from, to *time.Time) *float64 {
	if from == nil || to == nil {
		return nil
	}
	d := to.Sub(*from).Seconds()
	return &d
}

func timeOf(t *metav1.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.Time
	return &v
}

// fetchRun reads one Run from the apiserver.
func (a *Server) fetchRun(ctx context.Context, namespace, name string) (*aiasv1alpha1.Run, error) {
	run := &aiasv1alpha1.Run{}
	err := a.Client.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, run)
	return run, err
}

func (a *Server) getRun(w http.ResponseWriter, r *http.Request) {
	run, err := a.fetchRun(r.Context(), r.PathValue("ns"), r.PathValue("run"))
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	d, err := a.detail(r.Context(), run)
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	httpjson.Write(w, http.StatusOK, d)
}

func (a *Server) getSteps(w http.ResponseWriter, r *http.Request) {
	run, err := a.fetchRun(r.Context(), r.PathValue("ns"), r.PathValue("run"))
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	steps, err := a.steps(r.Context(), run)
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	httpjson.Write(w, http.StatusOK, userapi.StepList{Items: steps})
}

// detail assembles what the run page shows from the Run, its frozen spec and the store.
func (a *Server) detail(ctx context.Context, run *aiasv1alpha1.Run) (userapi.RunDetail, error) {
	d := userapi.RunDetail{
		RunSummary: userapi.RunSummary{Namespace: run.Namespace, Name: run.Name, UID: string(run.UID), Workflow: run.Spec.WorkflowRef.Name,
			Phase: string(run.Status.Phase), Trigger: string(aiasv1alpha1.TriggerManual), CreatedAt: run.CreationTimestamp.Time,
			StartedAt: timeOf(run.Status.StartTime), FinishedAt: timeOf(run.Status.CompletionTime)},
		ReplayOf: run.Spec.ReplayOf, ResumeOf: run.Spec.ResumeOf, Cancel: run.Spec.Cancel, Message: run.Status.Message,
		SpecDigest: run.Status.SpecDigest, InputDigest: run.Status.InputDigest,
	}
	if d.Phase == "" {
		d.Phase = string(aiasv1alpha1.RunPending)
	}
	d.DurationSeconds = seconds(d.StartedAt, d.FinishedAt)
	if t := run.Spec.Trigger; t != nil {
		if t.Type != "" {
			d.Trigger = string(t.Type)
		}
		d.Endpoint, d.DeliveryID = t.Endpoint, t.DeliveryID
	}
	for _, c := range run.Status.Conditions {
		if c.Type == aiasv1alpha1.RunConditionReady {
			d.Reason = c.Reason
			if d.Message == "" {
				d.Message = c.Message
			}
		}
	}
	var err error
	if d.Steps, err = a.steps(ctx, run); err != nil {
		return d, err
	}
	if d.Artifacts, d.ArtifactsTruncated, err = a.firstArtifacts(ctx, string(run.UID), userapi.MaxDetailArtifacts); err != nil {
		return d, err
	}
	if run.Spec.ReplayOf != "" {
		d.Replay = a.replayCheck(ctx, run)
	}
	return d, nil
}

// steps lists a Run's steps in the frozen spec's order with their dependencies, so the
// UI draws the DAG the Run really ran; before the Run froze its spec, the status alone.
func (a *Server) steps(ctx context.Context, run *aiasv1alpha1.Run) ([]userapi.Step, error) {
	byName := map[string]aiasv1alpha1.StepStatus{}
	for _, s := range run.Status.Steps {
		byName[s.Name] = s
	}
	ran, err := a.Store.StepRunSeconds(ctx, string(run.UID))
	if err != nil {
		return nil, err
	}
	out := []userapi.Step{}
	add := func(st userapi.Step) {
		if secs, ok := ran[st.Name]; ok {
			st.RunSeconds = &secs
		}
		for k := range st.Items {
			if secs, ok := ran[st.Items[k].Name]; ok {
				st.Items[k].RunSeconds = &secs
			}
		}
		out = append(out, st)
	}
	if spec, err := a.frozenSpec(ctx, run.Status.SpecDigest); err != nil {
		return nil, err
	} else if spec != nil {
		spec, main := spec.RunSteps()
		deps := drawnDependencies(spec, main)
		for i, s := range spec.Steps {
			st := stepOf(byName[s.Name])
			st.Name, st.DependsOn, st.Finally = s.Name, deps[i], i >= main
			if s.Approval != nil {
				st.Gate = gateOf(s.Approval, byName[s.Name])
			}
			add(st)
		}
		return out, nil
	}
	for _, s := range run.Status.Steps {
		add(stepOf(s))
	}
	return out, nil
}

// stepOf is a step's status as the user API shows it; a forEach step's items come with
// their counts and the names their logs and artifacts go by.
func stepOf(s aiasv1alpha1.StepStatus) userapi.Step {
	st := userapi.Step{Name: s.Name, Phase: string(phaseOr(s.Phase)), Attempts: s.Attempts, JobName: s.JobName,
		StartTime: timeOf(s.StartTime), CompletionTime: timeOf(s.CompletionTime),
		ExitCode: s.ExitCode, Message: s.Message, OutputDigest: s.OutputDigest, ChildRun: s.ChildRun}
	if c := s.CachedFrom; c != nil {
		st.CachedFrom = &userapi.CachedFrom{Run: c.Run, Step: c.Step, Attempt: c.Attempt}
	}
	st.DurationSeconds = seconds(st.StartTime, st.CompletionTime)
	if s.Approval != nil {
		a := statusApproval(*s.Approval)
		st.Approval = &a
	}
	if len(s.Items) > 0 {
		st.ItemTotal, st.Items = len(s.Items), make([]userapi.Item, len(s.Items))
		st.ItemCounts = map[string]int{}
		for phase, n := range runengine.ItemCounts(s.Items) {
			st.ItemCounts[string(phaseOr(phase))] += n
		}
		for k, it := range s.Items {
			st.Items[k] = userapi.Item{Index: k, Name: aiasv1alpha1.ItemStepName(s.Name, k), Phase: string(phaseOr(it.Phase)),
				Attempts: it.Attempts, JobName: it.JobName, NextAttemptTime: timeOf(it.NextAttemptTime),
				ExitCode: it.ExitCode, Message: it.Message, OutputDigest: it.OutputDigest}
		}
	}
	return st
}

// gateOf is an approval gate's spec as the user API shows it, with its deadline while it
// waits (from the time it started waiting, as the Run controller counts it).
func gateOf(g *aiasv1alpha1.ApprovalGate, st aiasv1alpha1.StepStatus) *userapi.Gate {
	out := &userapi.Gate{Message: g.Message, OnTimeout: g.OnTimeout}
	if out.OnTimeout == "" {
		out.OnTimeout = aiasv1alpha1.ApprovalOnTimeoutReject
	}
	for _, ap := range g.Approvers {
		out.Approvers = append(out.Approvers, userapi.Approver{Kind: ap.Kind, Name: ap.Name})
	}
	if st.Phase == aiasv1alpha1.StepWaiting && st.StartTime != nil {
		d := st.StartTime.Add(runengine.ApprovalTimeout(g))
		out.Deadline = &d
	}
	return out
}

func statusApproval(a aiasv1alpha1.ApprovalStatus) userapi.Approval {
	return userapi.Approval{Decision: a.Decision, By: a.By, Comment: a.Comment, Time: a.Time.Time, TimedOut: a.TimedOut}
}

// phaseOr is p, or Pending for a phase not written yet.
func phaseOr(p aiasv1alpha1.StepPhase) aiasv1alpha1.StepPhase {
	if p == "" {
		return aiasv1alpha1.StepPending
	}
	return p
}

// frozenSpec reads the Workflow spec a Run started with (nil before it started).
func (a *Server) frozenSpec(ctx context.Context, digest string) (*aiasv1alpha1.WorkflowSpec, error) {
	if digest == "" {
		return nil, nil
	}
	if s, ok := a.specs.Get(digest); ok {
		return s.(*aiasv1alpha1.WorkflowSpec), nil
	}
	raw, err := a.Store.WorkflowSpec(ctx, digest)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	spec := &aiasv1alpha1.WorkflowSpec{}
	if err := json.Unmarshal(raw, spec); err != nil {
		return nil, fmt.Errorf("frozen spec %s: %w", digest, err)
	}
	a.specs.Add(digest, spec)
	return spec, nil
}

// firstArtifacts lists up to n of a Run's artifacts, and whether it has more: a Run's
// page, which the UI polls, stays small however many artifacts its steps store.
func (a *Server) firstArtifacts(ctx context.Context, runUID string, n int) ([]userapi.ArtifactInfo, bool, error) {
	list, err := a.Store.ListArtifactsAfter(ctx, runUID, nil, n+1)
	if err != nil {
		return nil, false, err
	}
	out := make([]userapi.ArtifactInfo, 0, min(len(list), n))
	for _, x := range list[:min(len(list), n)] {
		out = append(out, artifactInfo(x))
	}
	return out, len(list) > n, nil
}

func artifactInfo(x store.Artifact) userapi.ArtifactInfo {
	return userapi.ArtifactInfo{Step: x.Step, Attempt: x.Attempt, Name: x.Name, Digest: x.Digest, Size: x.Size,
		ContentType: x.ContentType, CreatedAt: x.CreatedAt}
}

// drawnDependencies are the edges the console draws for spec's steps (RunSteps, the first
// main of them the Workflow's steps): each step's dependencies, and for a finally step
// that has none, the steps nothing depends on, since it runs after all of them.
func drawnDependencies(spec *aiasv1alpha1.WorkflowSpec, main int) [][]string {
	out := make([][]string, len(spec.Steps))
	needed := map[string]bool{}
	for i := range spec.Steps {
		out[i] = spec.StepDependencies(i)
		if i < main {
			for _, d := range out[i] {
				needed[d] = true
			}
		}
	}
	var sinks []string
	for _, s := range spec.Steps[:main] {
		if !needed[s.Name] {
			sinks = append(sinks, s.Name)
		}
	}
	for i := main; i < len(spec.Steps); i++ {
		if len(out[i]) == 0 {
			out[i] = sinks
		}
	}
	return out
}
