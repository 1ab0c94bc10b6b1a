package controllers

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/runs"
	"github.com/aias-dev/aias/internal/store"
)

// Composed workflows (issue 24): a workflowRef step runs another Workflow of the
// namespace as a child Run, owned by its parent (so deleted with it), labelled with the
// parent's name and its depth, counted against the plan like any Run. The parent follows
// the child (a child's end wakes it, childEnded), takes the result of its last step, and
// cancels its unfinished children when it ends.

// childRunName is the Run a workflowRef step starts: `<run>-<step>` when that reads back
// as the pair (the step name has no "-"), else cut to fit and hashed, as Job names are.
func childRunName(run, step string) string {
	return runs.BoundedName(run+"-"+step, !strings.Contains(step, "-"), run+"\x00"+step+"\x00child")
}

// runDepth is how deep run nests through workflowRef steps (0: no parent).
func runDepth(run *aiasv1alpha1.Run) int {
	d, _ := strconv.Atoi(run.Labels[aiasv1alpha1.LabelDepth])
	return d
}

// observeChildren is what the workflowRef steps that run see of their children.
func (r *RunReconciler) observeChildren(ctx context.Context, s *runScope) (map[string]runengine.ChildState, error) {
	out := map[string]runengine.ChildState{}
	for i := range s.spec.Steps {
		st := &s.run.Status.Steps[i]
		if s.spec.Steps[i].WorkflowRef == nil || st.Phase != aiasv1alpha1.StepRunning || st.ChildRun == "" {
			continue
		}
		child := &aiasv1alpha1.Run{}
		err := r.Get(ctx, clientKey(s.run.Namespace, st.ChildRun), child)
		if apierrors.IsNotFound(err) {
			gone, err := r.absent(ctx, clientKey(s.run.Namespace, st.ChildRun), &aiasv1alpha1.Run{})
			if err != nil {
				return nil, err
			}
			if gone {
				out[st.Name] = runengine.ChildState{Name: st.ChildRun, Gone: true}
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		c := runengine.ChildState{Name: child.Name, Phase: child.Status.Phase, Message: child.Status.Message}
		if child.Status.Phase == aiasv1alpha1.RunSucceeded {
			if c.OutputDigest, err = r.takeChildResult(ctx, s, st.Name, child); err != nil {
				return nil, err
			}
		}
		out[st.Name] = c
	}
	return out, nil
}

// takeChildResult copies the result of a Succeeded child's last step (its last main
// step, not a finally step) to the parent's step, and returns its digest.
func (r *RunReconciler) takeChildResult(ctx context.Context, s *runScope, step string, child *aiasv1alpha1.Run) (string, error) {
	spec, err := r.frozenSpec(ctx, child.Status.SpecDigest)
	if err != nil {
		return "", err
	}
	main := len(spec.Steps)
	if main == 0 || main > len(child.Status.Steps) {
		return "", nil
	}
	last := child.Status.Steps[main-1]
	if last.OutputDigest == "" {
		return "", nil
	}
	e := store.CacheEntry{Namespace: child.Namespace, RunUID: string(child.UID), RunName: child.Name, Step: last.Name,
		Attempt: int(max(last.Attempts, 1)), OutputDigest: last.OutputDigest}
	if last.CachedFrom != nil {
		e.Attempt = 1 // a cached step's outputs were copied to its attempt 1
	}
	run := s.run
	err = r.Store.TakeCached(ctx, store.CacheTarget{Namespace: run.Namespace, RunUID: string(run.UID), RunName: run.Name, Step: step}, e)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("taking the result of child run %s: %w", child.Name, err)
	}
	return last.OutputDigest, nil
}

// startChildren creates the child Runs the engine asked for and records their names.
func (r *RunReconciler) startChildren(ctx context.Context, s *runScope, indexes []int) error {
	parent := s.run
	for _, i := range indexes {
		spec, err := r.attemptSpec(ctx, s, stepUnit(s.spec, i))
		if err != nil {
			return err
		}
		ref := spec.Steps[i].WorkflowRef
		name := childRunName(parent.Name, spec.Steps[i].Name)
		child := &aiasv1alpha1.Run{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: parent.Namespace,
				Labels: map[string]string{aiasv1alpha1.LabelParentRun: runs.LabelValue(parent.Name),
					aiasv1alpha1.LabelDepth: strconv.Itoa(runDepth(parent) + 1)},
				Finalizers: []string{aiasv1alpha1.RunFinalizer},
			},
			Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: ref.Name}, Params: ref.Params,
				Input: parent.Spec.Input, InputRef: parent.Spec.InputRef,
				Trigger: &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerParent}},
		}
		if err := controllerutil.SetControllerReference(parent, child, r.Scheme); err != nil {
			return err
		}
		if err := r.Create(ctx, child); apierrors.IsAlreadyExists(err) {
			existing := &aiasv1alpha1.Run{}
			if err := r.APIReader.Get(ctx, client.ObjectKeyFromObject(child), existing); err != nil {
				return err
			}
			if !metav1.IsControlledBy(existing, parent) {
				return fmt.Errorf("run %s already exists and is not this run's child; it is left alone", name)
			}
		} else if err != nil {
			s.event(corev1.EventTypeWarning, aiasv1alpha1.RunEventJobCreateFailed, "Creating child run %s: %v", name, err)
			return err
		}
		parent.Status.Steps[i].ChildRun = name
		parent.Status.Steps[i].Message = "running workflow " + ref.Name + " as run " + name
		s.event(corev1.EventTypeNormal, aiasv1alpha1.RunEventStepStarted, "Step %s started workflow %s as run %s", spec.Steps[i].Name, ref.Name, name)
	}
	return nil
}

// cancelChildren cancels a finished Run's children that still run.
func (r *RunReconciler) cancelChildren(ctx context.Context, run *aiasv1alpha1.Run) error {
	for _, st := range run.Status.Steps {
		if st.ChildRun == "" {
			continue
		}
		child := &aiasv1alpha1.Run{}
		if err := r.Get(ctx, clientKey(run.Namespace, st.ChildRun), child); err != nil {
			if apierrors.IsNotFound(err) {
				continue
			}
			return err
		}
		if child.Spec.Cancel || child.Status.Phase.Finished() || !metav1.IsControlledBy(child, run) {
			continue
		}
		patch := client.MergeFrom(child.DeepCopy())
		child.Spec.Cancel = true
		if err := r.Patch(ctx, child, patch); client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("canceling child run %s: %w", child.Name, err)
		}
	}
	return nil
}

// childEnded passes the updates of a child Run that end it: its parent then goes on.
var childEnded = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	GenericFunc: func(event.GenericEvent) bool { return false },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*aiasv1alpha1.Run), e.ObjectNew.(*aiasv1alpha1.Run)
		return n.Status.Phase.Finished() && !o.Status.Phase.Finished()
	},
}
