package controllers

import (
	"context"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// conflictRequeue is how soon a reconcile whose status patch met a newer object is redone.
const conflictRequeue = 250 * time.Millisecond

type readyEvent struct{ eventType, reason, note string }

// readyTransition returns the event that announces a change of the Ready condition:
// a Warning when it goes False or its problem changes, a Normal when it is True again.
// A first True (no earlier condition) is no news and gets no event.
func readyTransition(old, cur *metav1.Condition) *readyEvent {
	if cur == nil {
		return nil
	}
	switch cur.Status {
	case metav1.ConditionFalse:
		if old != nil && old.Status == metav1.ConditionFalse && old.Reason == cur.Reason && old.Message == cur.Message {
			return nil
		}
		return &readyEvent{corev1.EventTypeWarning, cur.Reason, cur.Message}
	case metav1.ConditionTrue:
		if old == nil || old.Status == metav1.ConditionTrue {
			return nil
		}
		return &readyEvent{corev1.EventTypeNormal, cur.Reason, cur.Message}
	}
	return nil
}

// soonestRequeue keeps the soonest of several requested requeues; zero means none.
type soonestRequeue struct{ d time.Duration }

func (q *soonestRequeue) add(d time.Duration) {
	if d > 0 && (q.d == 0 || d < q.d) {
		q.d = d
	}
}

// maxEventNote is below the 1 KiB limit the events.k8s.io API puts on an event's note.
const maxEventNote = 1000

// shortenNote cuts s to at most n bytes, on a rune boundary, marking the cut.
func shortenNote(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("...")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// readyStatus is what patchReadyStatus compares of an object: its whole status, and the
// conditions within it.
type readyStatus struct {
	status     any
	conditions []metav1.Condition
}

// patchReadyStatus writes obj's status when it differs from before, and only then records
// the Ready transition it carries (action names what the controller did, for the event).
// The patch is guarded by the resourceVersion read, so a reconcile working from a stale
// cache fails (and is retried) instead of emitting a duplicate event. The Workflow,
// WebhookEndpoint and Tenant controllers write their status this way.
func patchReadyStatus[T client.Object](ctx context.Context, c client.Client, rec events.EventRecorder, kind, action string,
	before, obj T, statusOf func(T) readyStatus) error {
	old, cur := statusOf(before), statusOf(obj)
	if equality.Semantic.DeepEqual(old.status, cur.status) {
		return nil
	}
	notify := readyTransition(
		meta.FindStatusCondition(old.conditions, aiasv1alpha1.ConditionReady),
		meta.FindStatusCondition(cur.conditions, aiasv1alpha1.ConditionReady))
	patch := client.MergeFromWithOptions(before, client.MergeFromWithOptimisticLock{})
	if err := c.Status().Patch(ctx, obj, patch); err != nil {
		name := obj.GetName()
		if ns := obj.GetNamespace(); ns != "" {
			name = ns + "/" + name
		}
		return fmt.Errorf("patching status of %s %s: %w", kind, name, err)
	}
	if notify != nil {
		rec.Eventf(obj, nil, notify.eventType, notify.reason, action, "%s", shortenNote(notify.note, maxEventNote))
	}
	return nil
}

// settleStatusWrite folds the error of a reconcile's deferred status write into its
// outcome: a conflict means a newer version exists, so the reconcile is redone soon
// instead of reported as a failure.
func settleStatusWrite(ctx context.Context, err error, result *ctrl.Result, retErr *error) {
	switch {
	case err == nil:
	case apierrors.IsConflict(err) && *retErr == nil:
		log.FromContext(ctx).V(1).Info("status patch conflict, requeueing", "error", err.Error())
		*result = ctrl.Result{RequeueAfter: conflictRequeue}
	default:
		*retErr = errors.Join(*retErr, err)
	}
}
