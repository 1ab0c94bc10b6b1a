package controllers

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/api/equality"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// writeStatus is the Run reconcile's deferred status write. The patch carries the
// resourceVersion the reconcile read (the optimistic lock every AIAS controller uses), so
// a reconcile that worked from a stale cache fails with a conflict instead of writing
// over a newer status: it is redone on fresh data, and the events and counts it queued
// are dropped with it. Only a write that lands (or a reconcile that changed nothing)
// sends them, then updates the run index when the phase moved.
func (r *RunReconciler) writeStatus(ctx context.Context, s *runScope, before *aiasv1alpha1.Run, result *ctrl.Result, retErr *error) {
	run := s.run
	if equality.Semantic.DeepEqual(before.Status, run.Status) {
		s.flush()
		return
	}
	run.Status.ObservedGeneration = run.Generation
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, run, patch); err != nil {
		s.drop()
		settleStatusWrite(ctx, fmt.Errorf("patching status of Run %s/%s: %w", run.Namespace, run.Name, err), result, retErr)
		return
	}
	s.flush()
	if before.Status.Phase != run.Status.Phase {
		if err := r.index(ctx, run); err != nil {
			*retErr = errors.Join(*retErr, err)
		}
	}
}
