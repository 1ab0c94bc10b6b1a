package controllers

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/store"
)

// stepJobs are a Run's Jobs by step attempt (from their labels, so a Job is found
// whatever naming rule made its name), and the highest attempt seen per step; an item
// of a forEach step counts as the step aiasv1alpha1.ItemStepName(step, index).
type stepJobs struct {
	byAttempt  map[stepAttempt]*batchv1.Job
	maxAttempt map[string]int32
}

type stepAttempt struct {
	step    string
	attempt int32
}

func (r *RunReconciler) listStepJobs(ctx context.Context, run *aiasv1alpha1.Run) (stepJobs, error) {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(run.Namespace), client.MatchingFields{IndexJobRunUID: string(run.UID)}); err != nil {
		return stepJobs{}, err
	}
	sj := stepJobs{byAttempt: map[stepAttempt]*batchv1.Job{}, maxAttempt: map[string]int32{}}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		a, err := strconv.ParseInt(j.Labels[aiasv1alpha1.LabelAttempt], 10, 32)
		if err != nil {
			continue
		}
		step := unitOfJob(j.Labels)
		sj.byAttempt[stepAttempt{step, int32(a)}] = j
		if int32(a) > sj.maxAttempt[step] {
			sj.maxAttempt[step] = int32(a)
		}
	}
	return sj, nil
}

// advance moves a running Run forward: it observes the attempt each unfinished step is
// on, lets the engine decide (internal/runengine), and carries the decision out: the
// steps' status, the attempts to create, the events, the Run's end.
func (r *RunReconciler) advance(ctx context.Context, s *runScope) (ctrl.Result, error) {
	run := s.run
	in := runengine.Input{Spec: s.spec, MainSteps: s.mainSteps, Status: &run.Status, Now: r.Now(), Attempts: map[string]runengine.Attempt{},
		Aggregated: map[string]runengine.ResultArray{}, Resume: run.Spec.ResumeOf != ""}
	if fansOut(s.spec, run.Status.Steps) {
		var err error
		if in.ItemsPerStep, err = r.itemsPerStep(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	if !runengine.TimedOut(in) {
		var err error
		if in.Attempts, err = r.observeAttempts(ctx, s, in.Now); err != nil {
			return ctrl.Result{}, err
		}
	}
	in.Depth = runDepth(run)
	children, err := r.observeChildren(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	in.Children = children
	if gatesOpen(s.spec, run.Status.Steps) {
		var err error
		if in.Approvals, err = r.approvals(ctx, run); err != nil {
			return ctrl.Result{}, err
		}
	}
	s.tokenReady = runengine.AnyAttemptStarted(run.Status.Steps)
	values, err := r.runValues(ctx, s)
	if err != nil {
		return ctrl.Result{}, err
	}
	in.Values, s.values = values, &in.Values
	for {
		before := run.Status.Steps
		d := runengine.Decide(in)
		if len(d.NeedResults) > 0 {
			// A step about to start reads results not loaded yet: load them and decide
			// again (they are then Loaded, so the engine does not ask twice).
			if err := r.loadResults(ctx, d.Steps, &in.Values, d.NeedResults); err != nil {
				return ctrl.Result{}, err
			}
			continue
		}
		if len(d.NeedCache) > 0 {
			// Steps with cache about to start: look their keys up (taking a hit's
			// outputs) and decide again.
			if in.Cache == nil {
				in.Cache = map[string]runengine.CacheLookup{}
			}
			for _, i := range d.NeedCache {
				look, err := r.lookupCache(ctx, s, in, d.Steps, i)
				if err != nil {
					return ctrl.Result{}, err
				}
				in.Cache[s.spec.Steps[i].Name] = look
			}
			continue
		}
		if len(d.Aggregate) > 0 {
			// forEach steps whose items all ended: store their result arrays and decide
			// again with them.
			for _, i := range d.Aggregate {
				array, err := r.writeResultArray(ctx, s, d.Steps, i)
				if err != nil {
					return ctrl.Result{}, err
				}
				in.Aggregated[s.spec.Steps[i].Name] = array
			}
			continue
		}
		if d.Stop != nil && run.Status.Stopping == nil {
			// The Run's timeout passed: its running steps' Jobs stop before any finally
			// step starts.
			if err := r.stop(ctx, s, d.Stop); err != nil {
				return ctrl.Result{}, err
			}
		}
		if err := r.recordCache(ctx, s, in, before, d.Steps); err != nil {
			return ctrl.Result{}, err
		}
		run.Status.Steps = d.Steps
		run.Status.StepsSummary = runengine.Summary(run.Status.Steps)
		s.events(d.Events)
		if d.Finish != nil {
			return ctrl.Result{}, r.finish(ctx, s, *d.Finish)
		}
		if d.RefreshArtifacts {
			if err := r.refreshArtifacts(ctx, run); err != nil {
				return ctrl.Result{}, err
			}
		}
		if len(d.Starts) > 0 && run.Status.Phase == aiasv1alpha1.RunWaiting {
			// The Run gave its slot back while it waited at a gate.
			held, err := r.claimAfterWaiting(ctx, s)
			if err != nil || !held {
				for _, undone := range d.Starts {
					undoStart(run.Status.Steps, before, undone)
				}
				run.Status.StepsSummary = runengine.Summary(run.Status.Steps)
				return ctrl.Result{RequeueAfter: r.QueueRecheck}, err
			}
		}
		if len(d.StartChildren) > 0 {
			if err := r.startChildren(ctx, s, d.StartChildren); err != nil {
				return ctrl.Result{}, err
			}
		}
		refused, err := r.startAttempts(ctx, s, d.Starts, before)
		if err == nil {
			err = r.setRunningPhase(ctx, s)
		}
		if err != nil || refused == nil {
			return ctrl.Result{RequeueAfter: d.RequeueAfter}, err
		}
		// An attempt ended as it started (its Pod was refused): decide again with its end,
		// before any later step starts.
		in.Attempts[refused.Step] = *refused
	}
}

// startAttempts creates the attempts the engine asked for, in order. It stops at the
// first attempt that ended at once (its Pod refused) and returns it; the steps whose
// attempts it did not create get back their status from before the decision.
func (r *RunReconciler) startAttempts(ctx context.Context, s *runScope, starts []runengine.Start, before []aiasv1alpha1.StepStatus) (*runengine.Attempt, error) {
	for k, start := range starts {
		ended, created, err := r.startAttempt(ctx, s, start)
		if err != nil || ended != nil {
			from := k + 1
			if !created {
				from = k
			}
			for _, undone := range starts[from:] {
				undoStart(s.run.Status.Steps, before, undone)
			}
			s.run.Status.StepsSummary = runengine.Summary(s.run.Status.Steps)
			return ended, err
		}
	}
	return nil, nil
}

// undoStart puts back what a start the engine decided but that was not created
// changed: the step's status, or for an item the item's (the step's other items may
// have started in the same decision).
func undoStart(steps, before []aiasv1alpha1.StepStatus, start runengine.Start) {
	if start.Item < 0 {
		steps[start.Index] = before[start.Index]
		return
	}
	st := &steps[start.Index]
	if was := before[start.Index].Items; start.Item < len(was) {
		st.Items[start.Item] = was[start.Item]
		return
	}
	// The step fanned out in this decision: the item was pending.
	st.Items[start.Item] = aiasv1alpha1.ItemStatus{Phase: aiasv1alpha1.StepPending}
}

// observeAttempts is what the engine needs to know of the attempt each unfinished step
// is on: the one its status records if it runs, or a newer one whose Job the status does
// not know of yet (created just before a crash or a lost status write). Steps are
// observed in spec order, and no further than the first whose attempt is not settled
// yet: the engine stops there too.
func (r *RunReconciler) observeAttempts(ctx context.Context, s *runScope, now time.Time) (map[string]runengine.Attempt, error) {
	run := s.run
	jobs, err := r.listStepJobs(ctx, run)
	if err != nil {
		return nil, err
	}
	out := map[string]runengine.Attempt{}
	for i := range s.spec.Steps {
		st := &run.Status.Steps[i]
		if runengine.StepFinished(st.Phase) {
			continue
		}
		for _, u := range unitsToObserve(s.spec, i, st, jobs) {
			phase, n, recorded := u.status(run)
			job := ""
			if recorded != nil {
				job = *recorded
			}
			if latest := jobs.maxAttempt[u.name]; latest > n {
				n, job = latest, ""
			} else if phase != aiasv1alpha1.StepRunning {
				continue
			}
			a, err := r.observeAttempt(ctx, s, u, n, job, jobs.byAttempt[stepAttempt{u.name, n}], now)
			if err != nil {
				return nil, err
			}
			out[u.name] = a
			if a.State == runengine.Unsettled {
				return out, nil
			}
		}
	}
	return out, nil
}

// unitsToObserve are the attempt lines of step i: the step itself, or the items of a
// forEach step, those in its status and those whose Jobs exist while the status does
// not list them yet (created just before a crash, in the pass that fanned it out).
func unitsToObserve(spec *aiasv1alpha1.WorkflowSpec, i int, st *aiasv1alpha1.StepStatus, jobs stepJobs) []attemptUnit {
	if spec.Steps[i].ForEach == "" {
		return []attemptUnit{stepUnit(spec, i)}
	}
	units := make([]attemptUnit, 0, len(st.Items))
	for k := range st.Items {
		units = append(units, itemUnit(spec, i, k))
	}
	if len(st.Items) == 0 {
		prefix := spec.Steps[i].Name + "."
		for name := range jobs.maxAttempt {
			if rest, ok := strings.CutPrefix(name, prefix); ok {
				if k, err := strconv.Atoi(rest); err == nil && k >= 0 && k < aiasv1alpha1.MaxItemsPerStep {
					units = append(units, itemUnit(spec, i, k))
				}
			}
		}
		sort.Slice(units, func(a, b int) bool { return units[a].item < units[b].item })
	}
	return units
}

// fansOut reports a forEach step that has not fanned out yet.
func fansOut(spec *aiasv1alpha1.WorkflowSpec, steps []aiasv1alpha1.StepStatus) bool {
	for i := range spec.Steps {
		if spec.Steps[i].ForEach != "" && i < len(steps) && (steps[i].Phase == aiasv1alpha1.StepPending || steps[i].Phase == "") {
			return true
		}
	}
	return false
}

// itemsPerStep is the plan's itemsPerStep for the namespace; 0: no plan limit.
func (r *RunReconciler) itemsPerStep(ctx context.Context, s *runScope) (int, error) {
	e, err := r.scopePlan(ctx, s)
	if err != nil || e == nil {
		return 0, err
	}
	if l := e.Limits().ItemsPerStep; l != nil {
		if *l == 0 {
			return -1, nil // none at all
		}
		return int(*l), nil
	}
	return 0, nil
}

// observeAttempt reads attempt n of u from its Job (nil: not in the cache) and Pod:
// it ran and ended, its Job or Pod went missing, or it still runs.
func (r *RunReconciler) observeAttempt(ctx context.Context, s *runScope, u attemptUnit, n int32, recorded string, job *batchv1.Job, now time.Time) (runengine.Attempt, error) {
	run, step := s.run, u.name
	if job == nil {
		name := recorded // as recorded when the attempt started
		if name == "" {
			name = jobName(run.Name, step, n)
		}
		gone, err := r.absent(ctx, clientKey(run.Namespace, name), &batchv1.Job{})
		if err != nil {
			return runengine.Attempt{}, err
		}
		if !gone {
			return runengine.NotYetKnown(step, n, name, time.Time{}, time.Second), nil
		}
		return runengine.Finished(step, n, name, time.Time{}, runengine.End{
			FinishedAt: now, Reason: runengine.ReasonJobDeleted, Message: "the step's Job was deleted before it finished",
		}), nil
	}
	var exitCode *int32
	if done, _, _ := jobResult(job); done {
		exitCode = r.cachedExitCode(ctx, job)
	} else {
		ended, code, res, wait, err := r.followPod(ctx, s, u, n, job)
		switch {
		case err != nil:
			return runengine.Attempt{}, err
		case ended == nil && res.RequeueAfter > 0:
			return runengine.NotYetKnown(step, n, job.Name, job.CreationTimestamp.Time, res.RequeueAfter), nil
		case ended == nil:
			return runengine.Stalled(step, n, job.Name, job.CreationTimestamp.Time, wait.message, wait.deadline), nil
		}
		job, exitCode = ended, code
	}
	a, err := r.endedAttempt(ctx, s, step, n, job, exitCode)
	if err == nil {
		r.children.forget(job.UID)
	}
	return a, err
}

// endedAttempt is the engine's view of attempt n of step, whose Job has finished: how
// the Job ended, the step container's exitCode (nil when unknown), and what step-run
// reported of it (its result when it succeeded, its outcome when it failed).
func (r *RunReconciler) endedAttempt(ctx context.Context, s *runScope, step string, n int32, job *batchv1.Job, exitCode *int32) (runengine.Attempt, error) {
	run := s.run
	_, succeeded, cond := jobResult(job)
	finished := cond.LastTransitionTime.Time
	if job.Status.CompletionTime != nil {
		finished = job.Status.CompletionTime.Time
	}
	if started := job.Status.StartTime; started != nil {
		label, took := map[bool]string{true: "Succeeded", false: "Failed"}[succeeded], finished.Sub(started.Time).Seconds()
		s.count(func() { stepDuration.WithLabelValues(label).Observe(took) })
	}
	end := runengine.End{Succeeded: succeeded, FinishedAt: finished, Reason: cond.Reason, Message: cond.Message, ExitCode: exitCode}
	if succeeded {
		res, err := r.Store.AttemptResult(ctx, string(run.UID), step, int(n))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return runengine.Attempt{}, err
		}
		end.OutputDigest = res.Digest
	} else {
		outcome, err := r.Store.StepAttemptOutcome(ctx, string(run.UID), step, int(n))
		switch {
		case err == nil:
			end.Report = &runengine.Report{ExitCode: int32(outcome.ExitCode), Message: outcome.Message}
		case !errors.Is(err, store.ErrNotFound):
			return runengine.Attempt{}, err
		}
	}
	return runengine.Finished(step, n, job.Name, job.CreationTimestamp.Time, end), nil
}

// jobResult reads a Job's terminal condition.
func jobResult(job *batchv1.Job) (done, succeeded bool, cond batchv1.JobCondition) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, true, c
		case batchv1.JobFailed:
			return true, false, c
		}
	}
	return false, false, batchv1.JobCondition{}
}
