package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"

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
func (r *RunReconciler) writeStatus(ctx context.Context, before, run *aiasv1alpha1.Run, result *ctrl.Result, retErr *error) {
	if equality.Semantic.DeepEqual(before.Status, run.Status) {
		r.outbox.flush(run)
		return
	}
	run.Status.ObservedGeneration = run.Generation
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	if err := r.Status().Patch(ctx, run, patch); err != nil {
		r.outbox.drop(run)
		settleStatusWrite(ctx, fmt.Errorf("patching status of Run %s/%s: %w", run.Namespace, run.Name, err), result, retErr)
		return
	}
	r.outbox.flush(run)
	if before.Status.Phase != run.Status.Phase {
		if err := r.index(ctx, run); err != nil {
			*retErr = errors.Join(*retErr, err)
		}
	}
}

// event queues what a user should see in `kubectl describe run`; it is sent once the
// status write that goes with it lands. The events API folds events with the same reason
// and action into one series that keeps the first note, so the action carries a digest of
// the note: "Step b started" must not read "Step a started (x2)".
func (r *RunReconciler) event(run *aiasv1alpha1.Run, eventType, reason, format string, args ...any) {
	if r.Recorder == nil {
		return
	}
	note := fmt.Sprintf(format, args...)
	sum := sha256.Sum256([]byte(note))
	action := reason + "/" + hex.EncodeToString(sum[:4])
	r.outbox.add(run, func() { r.Recorder.Eventf(run, nil, eventType, reason, action, "%s", note) })
}

// count queues a metric observation, sent with the events.
func (r *RunReconciler) count(run *aiasv1alpha1.Run, observe func()) { r.outbox.add(run, observe) }

// runOutbox holds, per reconcile (keyed by the Run object it works on), what waits for
// its status write. controller-runtime never reconciles one Run in two workers at once.
type runOutbox struct{ m sync.Map } // *aiasv1alpha1.Run → *[]func()

func (o *runOutbox) add(run *aiasv1alpha1.Run, send func()) {
	v, _ := o.m.LoadOrStore(run, &[]func(){})
	q := v.(*[]func())
	*q = append(*q, send)
}

func (o *runOutbox) flush(run *aiasv1alpha1.Run) {
	if v, ok := o.m.LoadAndDelete(run); ok {
		for _, send := range *v.(*[]func()) {
			send()
		}
	}
}

func (o *runOutbox) drop(run *aiasv1alpha1.Run) { o.m.Delete(run) }
