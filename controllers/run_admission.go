package controllers

import (
	"context"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/store"
)

func clientKey(namespace, name string) types.NamespacedName {
	return types.NamespacedName{Namespace: namespace, Name: name}
}

// admit applies the Workflow's concurrency policy. Every started Run holds a slot in the
// store until it finishes; slots are claimed atomically there, so neither cache lag nor
// two reconciles at once can start more Runs than the policy allows.
//   - Allow: no limit.
//   - Forbid: beyond max active Runs, the new Run is Rejected.
//   - Queue: beyond max, Runs wait in phase Queued and start first-come first-served.
//
// Then the Run counts against the tenant's plan; it starts when both allow it.
func (r *RunReconciler) admit(ctx context.Context, s *runScope, tp *entitlements.Entitlement) (bool, ctrl.Result, error) {
	run := s.run
	if tp.PlanMissing() {
		// Its limits are all zero; the Run is refused before it takes a slot, with a
		// message that names the plan rather than "allows 0 runs".
		r.reject(s, aiasv1alpha1.RunRejected, aiasv1alpha1.RunReasonQuotaExceeded, tp.MissingPlanMessage("no Run can start"))
		return false, ctrl.Result{}, nil
	}
	held, res, err := r.claimSlot(ctx, s, tp)
	if err != nil || !held {
		return false, res, err
	}
	if tp != nil {
		if granted, err := r.claimPlanRun(ctx, s, tp); err != nil || !granted {
			return false, ctrl.Result{}, err
		}
	}
	now := metav1.NewTime(r.Now())
	run.Status.Phase = aiasv1alpha1.RunRunning
	run.Status.StartTime = &now
	run.Status.Message = ""
	setRunRunning(run)
	// No event: StepStarted follows at once, and apiserver writes per Run are budgeted.
	return true, ctrl.Result{}, nil
}

// concurrencyOf is the Workflow's policy and its max (0: no limit).
func concurrencyOf(spec *aiasv1alpha1.WorkflowSpec) (aiasv1alpha1.ConcurrencyPolicyType, int) {
	c := spec.Concurrency
	if c == nil {
		return aiasv1alpha1.ConcurrencyAllow, 0
	}
	policy, limit := c.Policy, 1
	if policy == "" {
		policy = aiasv1alpha1.ConcurrencyAllow
	}
	if c.Max != nil {
		limit = int(*c.Max)
	}
	if policy == aiasv1alpha1.ConcurrencyAllow {
		limit = 0
	}
	return policy, limit
}

// claimSlot takes a concurrency slot for the Run, or queues or rejects it as the
// Workflow's policy and the tenant's concurrentRuns say.
func (r *RunReconciler) claimSlot(ctx context.Context, s *runScope, tp *entitlements.Entitlement) (bool, ctrl.Result, error) {
	run, spec := s.run, s.spec
	policy, limit := concurrencyOf(spec)
	wf := run.Spec.WorkflowRef.Name
	key, err := concurrencyKey(spec, run)
	if err != nil {
		r.reject(s, aiasv1alpha1.RunRejected, aiasv1alpha1.RunReasonInvalidConcurrencyKey, err.Error())
		return false, ctrl.Result{}, nil
	}
	run.Status.ConcurrencyKey = key
	if l := tp.Limits().ConcurrentRuns; l != nil && *l == 0 {
		// A plan of zero concurrent runs allows none (ClaimSlot's 0 would mean no limit):
		// such Runs wait, as they do behind a full plan, until the plan changes.
		r.queue(s, fmt.Sprintf("%s allows 0 concurrent runs: waiting for a plan that allows some", tp.Describe()))
		return false, ctrl.Result{RequeueAfter: r.QueueRecheck}, nil
	}
	switch policy {
	case aiasv1alpha1.ConcurrencyQueue:
		ahead, err := r.queuedAhead(ctx, run, spec, key)
		if err != nil {
			return false, ctrl.Result{}, err
		}
		if ahead > 0 {
			r.queue(s, fmt.Sprintf("waiting behind %d earlier run(s) of workflow %s%s (policy Queue, max %d)", ahead, wf, keyNote(key), limit))
			return false, ctrl.Result{RequeueAfter: r.QueueRecheck}, nil
		}
	case aiasv1alpha1.ConcurrencyReplace:
		newer, err := r.replaceEarlier(ctx, s, key)
		if err != nil {
			return false, ctrl.Result{}, err
		}
		if newer != "" {
			return false, ctrl.Result{}, r.finish(ctx, s, runengine.Canceled(newer))
		}
	}
	held, err := r.Store.ClaimSlot(ctx, store.SlotClaim{RunUID: string(run.UID), Namespace: run.Namespace, Workflow: wf, Key: key, Max: limit, NamespaceMax: concurrentLimit(tp)})
	if err != nil {
		return false, ctrl.Result{}, fmt.Errorf("claiming a concurrency slot: %w", err)
	}
	if held {
		return true, ctrl.Result{}, nil
	}
	if wfSlots, nsSlots, err := r.Store.SlotCounts(ctx, run.Namespace, wf, key); err == nil && (limit == 0 || wfSlots < limit) && concurrentLimit(tp) > 0 {
		// The tenant's plan is what is full: such Runs wait, they never fail.
		r.queue(s, fmt.Sprintf("%s allows %d concurrent run(s) and %d are running: waiting for one to finish", tp.Describe(), concurrentLimit(tp), nsSlots))
		return false, ctrl.Result{RequeueAfter: r.QueueRecheck}, nil
	}
	msg := fmt.Sprintf("workflow %s allows %d active run(s)%s at once and that many are running", wf, limit, keyNote(key))
	if policy == aiasv1alpha1.ConcurrencyForbid {
		r.reject(s, aiasv1alpha1.RunRejected, aiasv1alpha1.RunReasonConcurrencyForbidden, msg+" (policy Forbid)")
		return false, ctrl.Result{}, nil
	}
	r.queue(s, msg+" (policy Queue): waiting for one to finish")
	return false, ctrl.Result{RequeueAfter: r.QueueRecheck}, nil
}

// claimPlanRun counts the Run against the plan's runs per period, once per Run UID,
// atomically with every other start, and records the Run's byte caps for the internal
// step API. Over the limit the slot goes back and the Run is Rejected.
func (r *RunReconciler) claimPlanRun(ctx context.Context, s *runScope, tp *entitlements.Entitlement) (bool, error) {
	run := s.run
	period := tp.PeriodStart(r.Now())
	granted, used, err := r.Store.ClaimRun(ctx, store.RunClaim{RunUID: string(run.UID), TenantUID: string(tp.Tenant.UID), PeriodStart: period, Limit: runsLimit(tp)})
	if err != nil {
		return false, fmt.Errorf("claiming the run against the plan: %w", err)
	}
	if !granted {
		if err := r.Store.ReleaseSlot(ctx, string(run.UID)); err != nil {
			return false, err
		}
		r.reject(s, aiasv1alpha1.RunRejected, aiasv1alpha1.RunReasonQuotaExceeded, fmt.Sprintf("%s allows %d runs per billing period and %d have started since %s",
			tp.Describe(), runsLimit(tp), used, period.Format("2006-01-02")))
		return false, nil
	}
	plan := tp.Limits()
	limits := store.RunLimits{ArtifactBytes: plan.ArtifactBytesPerRun, LogBytes: plan.LogBytesPerRun}
	if limits.ArtifactBytes != nil || limits.LogBytes != nil {
		if err := r.Store.SetRunLimits(ctx, string(run.UID), limits); err != nil {
			return false, fmt.Errorf("recording the run's byte limits: %w", err)
		}
	}
	return true, nil
}

func (r *RunReconciler) queue(s *runScope, msg string) {
	run := s.run
	if run.Status.Phase != aiasv1alpha1.RunQueued {
		s.event(corev1.EventTypeNormal, aiasv1alpha1.RunEventQueued, "%s", msg)
	}
	run.Status.Phase = aiasv1alpha1.RunQueued
	run.Status.Message = msg
	setRunQueued(run, msg)
}

// queuedAhead counts the Runs of the same Workflow and key that wait and were created
// earlier: a Run may take a free slot only when none of them still waits (first come,
// first served).
func (r *RunReconciler) queuedAhead(ctx context.Context, run *aiasv1alpha1.Run, spec *aiasv1alpha1.WorkflowSpec, key string) (int, error) {
	runs, err := runsOfWorkflow(ctx, r.Client, run.Namespace, run.Spec.WorkflowRef.Name)
	if err != nil {
		return 0, err
	}
	sort.Slice(runs, func(i, j int) bool { return createdBefore(&runs[i], &runs[j]) })
	ahead := 0
	for i := range runs {
		o := &runs[i]
		if o.UID == run.UID {
			break
		}
		waiting := o.Status.Phase == "" || o.Status.Phase == aiasv1alpha1.RunPending || o.Status.Phase == aiasv1alpha1.RunQueued
		if waiting && o.DeletionTimestamp.IsZero() && !o.Spec.Cancel && sameKey(spec, o, key) {
			ahead++
		}
	}
	return ahead, nil
}

func createdBefore(a, b *aiasv1alpha1.Run) bool {
	if !a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.CreationTimestamp.Before(&b.CreationTimestamp)
	}
	return a.Name < b.Name
}
