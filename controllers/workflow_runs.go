package controllers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// maxPrunesPerReconcile bounds the deletions of one reconcile, so that lowering a history
// limit on a Workflow with thousands of Runs neither blocks the worker for long nor sends
// a burst of requests; the rest follow on the next reconciles.
const maxPrunesPerReconcile = 100

// reconcileRuns prunes finished Runs beyond the history policy, then summarizes the Runs
// that remain. It asks to be requeued when the next finished Run's TTL expires.
func (r *WorkflowReconciler) reconcileRuns(ctx context.Context, wf *aiasv1alpha1.Workflow) (time.Duration, error) {
	runs, err := runsOfWorkflow(ctx, r.Client, wf.Namespace, wf.Name)
	if err != nil {
		return 0, fmt.Errorf("listing Runs of Workflow %s/%s: %w", wf.Namespace, wf.Name, err)
	}

	plan := planHistory(wf.Spec.History, runs, r.now())
	gone := make(map[types.UID]bool, len(plan.prune))
	var errs []error
	for _, p := range plan.prune {
		if err := r.pruneRun(ctx, wf, p); err != nil {
			errs = append(errs, err)
			continue
		}
		gone[p.run.UID] = true
	}

	wf.Status.ActiveRuns, wf.Status.QueuedRuns, wf.Status.LastRun = summarizeRuns(runs, gone)
	return plan.requeue, errors.Join(errs...)
}

// pruneRun deletes a finished Run and records why. A Run that is already gone, or whose
// name now belongs to a newer Run (the UID precondition fails), counts as pruned.
func (r *WorkflowReconciler) pruneRun(ctx context.Context, wf *aiasv1alpha1.Workflow, p pruneCandidate) error {
	uid := p.run.UID
	err := r.Delete(ctx, p.run,
		client.PropagationPolicy(metav1.DeletePropagationBackground),
		client.Preconditions{UID: &uid})
	switch {
	case err == nil:
		log.FromContext(ctx).Info("pruned Run", "run", p.run.Name, "phase", p.run.Status.Phase, "why", p.why)
		r.Recorder.Eventf(wf, p.run, corev1.EventTypeNormal, aiasv1alpha1.ReasonPruned, "Delete", "%s",
			shortenNote(fmt.Sprintf("Deleted %s Run %q: %s", p.run.Status.Phase, p.run.Name, p.why), maxEventNote))
		return nil
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
		return nil
	default:
		return fmt.Errorf("deleting Run %s/%s: %w", p.run.Namespace, p.run.Name, err)
	}
}

// pruneCandidate is a finished Run the history policy no longer keeps.
type pruneCandidate struct {
	run *aiasv1alpha1.Run
	why string
}

// historyPlan is what the history policy says about a Workflow's Runs at one moment.
type historyPlan struct {
	// prune lists the Runs to delete, oldest first.
	prune []pruneCandidate
	// requeue is the time until the next kept Run's TTL expires, or until the rest of
	// a truncated prune list is due; zero for none.
	requeue time.Duration
}

// planHistory decides which finished Runs the policy no longer keeps. A nil policy, and
// a nil count or TTL within it, keeps everything. Unfinished Runs, and Runs already being
// deleted, are never candidates.
func planHistory(h *aiasv1alpha1.HistoryPolicy, runs []aiasv1alpha1.Run, now time.Time) historyPlan {
	var plan historyPlan
	if h == nil || (h.Succeeded == nil && h.Failed == nil && h.TTL == nil) {
		return plan
	}
	var succeeded, failed []*aiasv1alpha1.Run
	for i := range runs {
		run := &runs[i]
		if run.DeletionTimestamp != nil || !run.Status.Phase.Finished() {
			continue
		}
		if run.Status.Phase == aiasv1alpha1.RunSucceeded {
			succeeded = append(succeeded, run)
		} else {
			failed = append(failed, run)
		}
	}
	var ttl *time.Duration
	if h.TTL != nil {
		ttl = &h.TTL.Duration
	}
	var requeue soonestRequeue
	plan.prune = append(plan.prune, planClass(succeeded, h.Succeeded, "succeeded", ttl, now, &requeue)...)
	plan.prune = append(plan.prune, planClass(failed, h.Failed, "failed", ttl, now, &requeue)...)

	slices.SortStableFunc(plan.prune, func(a, b pruneCandidate) int { return compareFinished(a.run, b.run) })
	if len(plan.prune) > maxPrunesPerReconcile {
		plan.prune = plan.prune[:maxPrunesPerReconcile]
		requeue.add(time.Second)
	}
	plan.requeue = requeue.d
	return plan
}

// planClass applies one count limit and the TTL to the finished Runs of one class.
func planClass(runs []*aiasv1alpha1.Run, limit *int32, class string, ttl *time.Duration, now time.Time, requeue *soonestRequeue) []pruneCandidate {
	// Newest first: the first `limit` Runs are the ones kept.
	slices.SortFunc(runs, func(a, b *aiasv1alpha1.Run) int { return compareFinished(b, a) })
	var prune []pruneCandidate
	kept := int32(0)
	for _, run := range runs {
		finished := finishedAt(run)
		if ttl != nil {
			expiry := finished.Add(*ttl)
			if !now.Before(expiry) {
				prune = append(prune, pruneCandidate{run, fmt.Sprintf(
					"finished %s ago, history.ttl is %s", now.Sub(finished).Round(time.Second), *ttl)})
				continue
			}
		}
		if limit != nil && kept >= *limit {
			prune = append(prune, pruneCandidate{run, fmt.Sprintf(
				"history.%s keeps the newest %d", class, *limit)})
			continue
		}
		kept++
		if ttl != nil {
			requeue.add(finished.Add(*ttl).Sub(now))
		}
	}
	return prune
}

// finishedAt is when a finished Run completed, or when it was created if it has no
// completion time (e.g. rejected before it started).
func finishedAt(run *aiasv1alpha1.Run) time.Time {
	if run.Status.CompletionTime != nil {
		return run.Status.CompletionTime.Time
	}
	return run.CreationTimestamp.Time
}

// compareFinished orders finished Runs oldest first: by finish time, then creation
// time, then name, so that the order is total and stable across reconciles.
func compareFinished(a, b *aiasv1alpha1.Run) int {
	if c := finishedAt(a).Compare(finishedAt(b)); c != 0 {
		return c
	}
	return compareCreated(a, b)
}

// compareCreated orders Runs oldest first by creation time, then name.
func compareCreated(a, b *aiasv1alpha1.Run) int {
	if c := a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	switch {
	case a.Name < b.Name:
		return -1
	case a.Name > b.Name:
		return 1
	}
	return 0
}

// summarizeRuns counts the active (Pending, Running or Waiting, including not yet picked up) and
// Queued Runs and describes the newest one. Runs being deleted, and those in gone, are
// left out: they are history.
func summarizeRuns(runs []aiasv1alpha1.Run, gone map[types.UID]bool) (active, queued int32, last *aiasv1alpha1.LastRunSummary) {
	var newest *aiasv1alpha1.Run
	for i := range runs {
		run := &runs[i]
		if run.DeletionTimestamp != nil || gone[run.UID] {
			continue
		}
		switch run.Status.Phase {
		case aiasv1alpha1.RunQueued:
			queued++
		case "", aiasv1alpha1.RunPending, aiasv1alpha1.RunRunning, aiasv1alpha1.RunWaiting:
			active++
		}
		if newest == nil || compareCreated(run, newest) > 0 {
			newest = run
		}
	}
	if newest != nil {
		last = &aiasv1alpha1.LastRunSummary{
			Name:           newest.Name,
			Phase:          newest.Status.Phase,
			StartTime:      newest.Status.StartTime.DeepCopy(),
			CompletionTime: newest.Status.CompletionTime.DeepCopy(),
		}
	}
	return active, queued, last
}
