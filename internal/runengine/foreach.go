package runengine

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

// A forEach step fans out once its dependencies and its when let it start: its list is
// evaluated (ItemValues), its status gets one ItemStatus per item, and each item runs
// as its own attempts, named ItemStepName(step, index) wherever an attempt is named by
// its step (Attempts, Start.Step, the store). At most parallelism items are in flight
// (running, or waiting for a retry); an item failing after its retries stops the
// fan-out unless continueOnItemFailure. Once no item is in flight and none will start,
// the step asks the caller for its result array (Decision.Aggregate) and succeeds with
// its digest (Input.Aggregated), or fails naming the first failed item.

// itemsLimit is the most items a forEach step may fan out to in this Run.
func (in Input) itemsLimit() int {
	switch {
	case in.ItemsPerStep < 0:
		return 0
	case in.ItemsPerStep > 0 && in.ItemsPerStep < aiasv1alpha1.MaxItemsPerStep:
		return in.ItemsPerStep
	}
	return aiasv1alpha1.MaxItemsPerStep
}

// ItemValues evaluates step i's forEach list over what the Run knows now. Its inputs
// (params, input, the results and phases of steps that ended) never change once the
// step fanned out, so it gives the same list each time: the caller evaluates it again
// to build an item's Pod instead of keeping the items anywhere.
func ItemValues(in Input, i int) ([]any, error) {
	return workflowexpr.EvalForEach(context.Background(), in.Spec.Steps[i].ForEach, exprVars(in.Values, in.Status.Steps, in.main(), i))
}

// fanOut evaluates step i's list and starts its first items.
func (p *pass) fanOut(i int, step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus) (stop bool) {
	in := p.in
	in.Status = &aiasv1alpha1.RunStatus{Steps: p.steps}
	items, err := ItemValues(in, i)
	if err != nil {
		p.failUnstarted(st, err.Error())
		return false
	}
	if limit := p.in.itemsLimit(); len(items) > limit {
		p.failUnstarted(st, fmt.Sprintf("forEach %q yields %d items, more than the %d a step may fan out to (the plan's itemsPerStep)", step.ForEach, len(items), limit))
		return false
	}
	// Every item's references resolve, or none starts: a field missing from one item
	// fails the step before any Pod runs, naming the item and the reference.
	for k, item := range items {
		if _, err := ResolveStep(step, p.in.Values.Results, p.runVars(i), &workflowexpr.Item{Value: item}); err != nil {
			p.failUnstarted(st, fmt.Sprintf("item %d: %v", k, err))
			return false
		}
	}
	t := metav1.NewTime(p.in.Now)
	st.Phase, st.StartTime, st.Message = aiasv1alpha1.StepRunning, &t, ""
	st.Items = make([]aiasv1alpha1.ItemStatus, len(items))
	for k := range st.Items {
		st.Items[k].Phase = aiasv1alpha1.StepPending
	}
	at := "all at once"
	if step.Parallelism != nil && int(*step.Parallelism) < len(items) {
		at = fmt.Sprintf("%d at a time", *step.Parallelism)
	}
	p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeNormal, Reason: aiasv1alpha1.RunEventStepStarted,
		Message: fmt.Sprintf("Step %s fans out to %d items, %s (%s to %s)", st.Name, len(items), at,
			aiasv1alpha1.ItemStepName(st.Name, 0), aiasv1alpha1.ItemStepName(st.Name, max(len(items)-1, 0)))})
	return p.visitItems(i, step, st)
}

// visitItems moves the items of a fanned-out step forward, then the step itself once
// its items are done.
func (p *pass) visitItems(i int, step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus) (stop bool) {
	if need := p.resultsNeeded(step); len(need) > 0 {
		// Items are built from the list, which reads these results (a manager restarted
		// since the fan-out has not loaded them).
		p.d.NeedResults = append(p.d.NeedResults, need...)
		return false
	}
	inFlight := 0
	for k := range st.Items {
		it := &st.Items[k]
		a, seen := p.in.Attempts[aiasv1alpha1.ItemStepName(step.Name, k)]
		if seen && a.Number > it.Attempts {
			it.Phase, it.Attempts, it.JobName, it.NextAttemptTime = aiasv1alpha1.StepRunning, a.Number, a.JobName, nil
		}
		switch it.Phase {
		case aiasv1alpha1.StepRetrying:
			inFlight++
			if next := it.NextAttemptTime; next != nil && p.in.Now.Before(next.Time) {
				p.wakeAt(next.Time)
				continue
			}
			p.startItem(i, k, it.Attempts+1)
		case aiasv1alpha1.StepRunning:
			if seen && a.Number == it.Attempts && a.State == Active {
				it.Message = a.Waiting
				if !a.Deadline.IsZero() {
					p.wakeAt(a.Deadline)
				}
			}
			if !seen || a.Number != it.Attempts || a.State == Active {
				inFlight++
				continue
			}
			if a.State == Unsettled {
				p.d.RequeueAfter = a.Retry
				return true
			}
			if a.End.Succeeded {
				it.Phase, it.Message, it.ExitCode, it.OutputDigest = aiasv1alpha1.StepSucceeded, "", ptrInt32(0), a.End.OutputDigest
				continue
			}
			code, msg := FailureOf(step, *a.End)
			if p.itemFailed(step, st, k, a, code, msg) {
				inFlight++
			}
		}
	}
	stopping := !step.ContinueOnItemFailure && firstFailedItem(st.Items) >= 0
	if !stopping {
		parallelism := len(st.Items)
		if step.Parallelism != nil {
			parallelism = int(*step.Parallelism)
		}
		for k := range st.Items {
			if inFlight >= parallelism {
				break
			}
			if st.Items[k].Phase == aiasv1alpha1.StepPending {
				p.startItem(i, k, 1)
				inFlight++
			}
		}
	}
	if inFlight > 0 {
		return false
	}
	p.itemsEnded(i, step, st)
	return false
}

// itemsEnded ends a fanned-out step none of whose items is in flight: failed when an
// item failed (without continueOnItemFailure; the items not started are skipped), else
// succeeded with its result array once the caller wrote it.
func (p *pass) itemsEnded(i int, step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus) {
	failed := failedItems(st.Items)
	t := metav1.NewTime(p.in.Now)
	if len(failed) > 0 && !step.ContinueOnItemFailure {
		first := failed[0]
		for k := range st.Items {
			if it := &st.Items[k]; it.Phase == aiasv1alpha1.StepPending {
				it.Phase, it.Message = aiasv1alpha1.StepSkipped, fmt.Sprintf("not run: item %d failed", first)
			}
		}
		st.Phase, st.CompletionTime, st.ExitCode = aiasv1alpha1.StepFailed, &t, st.Items[first].ExitCode
		st.Message = fmt.Sprintf("item %d failed: %s", first, st.Items[first].Message)
		if len(failed) > 1 {
			st.Message += fmt.Sprintf(" (%d of %d items failed)", len(failed), len(st.Items))
		}
		p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeWarning, Reason: aiasv1alpha1.RunEventStepFailed,
			Message: fmt.Sprintf("Step %s failed: %s", st.Name, st.Message)})
		return
	}
	array, ok := p.in.Aggregated[step.Name]
	if !ok {
		p.d.Aggregate = append(p.d.Aggregate, i)
		return
	}
	if array.Error != "" {
		st.Phase, st.CompletionTime, st.Message = aiasv1alpha1.StepFailed, &t, array.Error
		p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeWarning, Reason: aiasv1alpha1.RunEventStepFailed,
			Message: fmt.Sprintf("Step %s failed: %s", st.Name, st.Message)})
		return
	}
	st.Phase, st.CompletionTime, st.ExitCode, st.OutputDigest = aiasv1alpha1.StepSucceeded, &t, ptrInt32(0), array.Digest
	var notes []string
	if len(failed) > 0 {
		notes = append(notes, fmt.Sprintf("%d of %d items failed (continueOnItemFailure): %s", len(failed), len(st.Items), joinInts(failed)))
	}
	if array.Note != "" {
		notes = append(notes, array.Note)
	}
	st.Message = strings.Join(notes, "; ")
	p.d.RefreshArtifacts = true
}

// startItem marks item k of step i as running attempt n and asks for its creation.
func (p *pass) startItem(i, k int, n int32) {
	st := &p.steps[i]
	it := &st.Items[k]
	it.Phase, it.Attempts, it.NextAttemptTime, it.ExitCode, it.Message = aiasv1alpha1.StepRunning, n, nil, nil, ""
	p.d.Starts = append(p.d.Starts, Start{Index: i, Item: k, Step: aiasv1alpha1.ItemStepName(st.Name, k), Attempt: n})
}

// itemFailed schedules item k's next attempt when planRetry says so (and says so: the
// item is still in flight), else fails the item.
func (p *pass) itemFailed(step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus, k int, a Attempt, code *int32, msg string) (retrying bool) {
	it := &st.Items[k]
	it.ExitCode, it.Message = code, msg
	plan := planRetry(step, it.Attempts, it.InfrastructureRetries, a, code, msg)
	if plan.retry {
		if plan.infrastructure {
			it.InfrastructureRetries++
		}
		next := metav1.NewTime(a.End.FinishedAt.Add(plan.delay))
		it.Phase, it.NextAttemptTime = aiasv1alpha1.StepRetrying, &next
		p.wakeAt(next.Time)
		p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeNormal, Reason: aiasv1alpha1.RunEventStepRetrying,
			Message: fmt.Sprintf("Step %s item %d attempt %d failed (%s); attempt %d in %s%s", st.Name, k, it.Attempts, msg, it.Attempts+1, plan.delay,
				infrastructureNote(plan, it.InfrastructureRetries, step))})
		return true
	}
	if plan.note != "" {
		it.Message = msg + " (" + plan.note + ")"
	}
	it.Phase = aiasv1alpha1.StepFailed
	p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeWarning, Reason: aiasv1alpha1.RunEventStepFailed,
		Message: fmt.Sprintf("Step %s item %d failed after %d attempt(s): %s", st.Name, k, it.Attempts, it.Message)})
	return false
}

func failedItems(items []aiasv1alpha1.ItemStatus) []int {
	var out []int
	for k := range items {
		if items[k].Phase == aiasv1alpha1.StepFailed {
			out = append(out, k)
		}
	}
	return out
}

func firstFailedItem(items []aiasv1alpha1.ItemStatus) int {
	if f := failedItems(items); len(f) > 0 {
		return f[0]
	}
	return -1
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = fmt.Sprint(n)
	}
	return strings.Join(s, ", ")
}

// ItemCounts says how a fanned-out step's items stand, for the console and the CLI:
// "3/12 running, 1 failed" style counts by phase.
func ItemCounts(items []aiasv1alpha1.ItemStatus) map[aiasv1alpha1.StepPhase]int {
	out := map[aiasv1alpha1.StepPhase]int{}
	for _, it := range items {
		out[it.Phase]++
	}
	return out
}
