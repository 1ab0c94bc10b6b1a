package controllers

import (
	"context"
	"errors"
	"fmt"

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
		rec.Eventf(obj, nil, notify.eventType, notify.reason, action, "%s", shortenNote(notify.note, maxWorkflowEventNote))
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
