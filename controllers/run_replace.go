package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/params"
)

// concurrencyKey is the Run's value of spec.concurrency.key ("" without one). The params
// were checked when the spec was frozen.
func concurrencyKey(spec *aiasv1alpha1.WorkflowSpec, run *aiasv1alpha1.Run) (string, error) {
	if spec.Concurrency == nil || spec.Concurrency.Key == "" {
		return "", nil
	}
	values, err := params.Resolve(spec.Params, run.Spec.Params)
	if err != nil {
		return "", err
	}
	return params.Key(spec.Concurrency.Key, values)
}

// sameKey reports whether other, a Run of the same Workflow, has key under spec's key
// expression. A Run whose params do not evaluate shares no key: it will be Rejected.
func sameKey(spec *aiasv1alpha1.WorkflowSpec, other *aiasv1alpha1.Run, key string) bool {
	k, err := concurrencyKey(spec, other)
	return err == nil && k == key
}

func keyNote(key string) string {
	if key == "" {
		return ""
	}
	return fmt.Sprintf(" with concurrency key %q", key)
}

// replaceEarlier applies policy Replace for run: every unfinished Run of the same
// Workflow and key created before it is canceled, marked as superseded by run. When a
// Run of the key created after run exists, nothing is canceled and its name is returned:
// run itself is the one superseded (reconciles of a burst may come in any order; the
// newest Run always wins). Canceling is a spec patch, idempotent, so a restart halfway
// through finishes the job on the next reconcile.
func (r *RunReconciler) replaceEarlier(ctx context.Context, s *runScope, key string) (string, error) {
	run, spec := s.run, s.spec
	runs, err := runsOfWorkflow(ctx, r.Client, run.Namespace, run.Spec.WorkflowRef.Name)
	if err != nil {
		return "", err
	}
	var older []*aiasv1alpha1.Run
	newest := ""
	var newestRun *aiasv1alpha1.Run
	for i := range runs {
		o := &runs[i]
		if o.UID == run.UID || o.Status.Phase.Finished() || !o.DeletionTimestamp.IsZero() || !sameKey(spec, o, key) {
			continue
		}
		if createdBefore(run, o) {
			if newestRun == nil || createdBefore(newestRun, o) {
				newestRun, newest = o, o.Name
			}
			continue
		}
		if !o.Spec.Cancel {
			older = append(older, o)
		}
	}
	if newest != "" {
		return newest, nil
	}
	for _, o := range older {
		patch := client.MergeFrom(o.DeepCopy())
		o.Spec.Cancel = true
		if o.Annotations == nil {
			o.Annotations = map[string]string{}
		}
		o.Annotations[aiasv1alpha1.AnnotationSupersededBy] = run.Name
		if err := r.Patch(ctx, o, patch); client.IgnoreNotFound(err) != nil {
			return "", fmt.Errorf("canceling run %s, superseded by %s: %w", o.Name, run.Name, err)
		}
	}
	if len(older) > 0 {
		s.event(corev1.EventTypeNormal, aiasv1alpha1.RunEventReplaced, "canceled %d earlier run(s)%s (policy Replace)", len(older), keyNote(key))
	}
	return "", nil
}
