package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/params"
)

// maxReadyProblems bounds how many problems the Ready message lists.
const maxReadyProblems = 10

// workflowProblem is one reason the Workflow cannot run as declared.
type workflowProblem struct{ reason, message string }

// reconcileReady sets the Ready condition from the objects the Workflow references, and
// asks to be requeued while it is not Ready (see DefaultWorkflowNotReadyRequeue).
// On a lookup error the condition is left as it was.
func (r *WorkflowReconciler) reconcileReady(ctx context.Context, wf *aiasv1alpha1.Workflow) (time.Duration, error) {
	problems, err := r.referenceProblems(ctx, wf)
	if err != nil {
		return 0, err
	}
	refused, err := accessRefusals(ctx, r.apiReader(), wf.Namespace, &wf.Spec, -1)
	if err != nil {
		return 0, err
	}
	problems = append(problems, refused...)
	for _, ref := range params.Undeclared(&wf.Spec) {
		problems = append(problems, workflowProblem{ReasonUndeclaredParam, ref + " names a parameter spec.params does not declare"})
	}
	if c := wf.Spec.Concurrency; c != nil && c.Key != "" {
		if err := params.CompileKey(c.Key); err != nil {
			problems = append(problems, workflowProblem{ReasonInvalidConcurrencyKey, err.Error()})
		}
	}
	cond := metav1.Condition{
		Type:               aiasv1alpha1.ConditionReady,
		ObservedGeneration: wf.Generation,
		// Used only when the status changes; API times have second precision.
		LastTransitionTime: metav1.NewTime(r.now()).Rfc3339Copy(),
	}
	if len(problems) == 0 {
		cond.Status = metav1.ConditionTrue
		cond.Reason = ReasonReady
		cond.Message = "Workflow is ready to run"
		meta.SetStatusCondition(&wf.Status.Conditions, cond)
		return 0, nil
	}
	cond.Status = metav1.ConditionFalse
	cond.Reason = problems[0].reason
	cond.Message = problemsMessage(problems)
	meta.SetStatusCondition(&wf.Status.Conditions, cond)
	return r.notReadyRequeue(), nil
}

func problemsMessage(problems []workflowProblem) string {
	msgs := make([]string, 0, min(len(problems), maxReadyProblems)+1)
	for i, p := range problems {
		if i == maxReadyProblems {
			msgs = append(msgs, fmt.Sprintf("and %d more", len(problems)-maxReadyProblems))
			break
		}
		msgs = append(msgs, p.message)
	}
	return strings.Join(msgs, "; ")
}

// referenceProblems lists, in spec order, the ServiceAccount, Secrets, ConfigMaps and keys
// the Workflow names but that do not exist. Optional env references are not checked: the
// kubelet starts the container without them.
func (r *WorkflowReconciler) referenceProblems(ctx context.Context, wf *aiasv1alpha1.Workflow) ([]workflowProblem, error) {
	refs := referenceLookup{reader: r.apiReader(), namespace: wf.Namespace}
	var problems []workflowProblem

	if sa := wf.Spec.ServiceAccountName; sa != "" {
		found, err := refs.exists(ctx, "ServiceAccount", sa)
		if err != nil {
			return nil, err
		}
		if !found {
			problems = append(problems, workflowProblem{ReasonServiceAccountNotFound,
				fmt.Sprintf("spec.serviceAccountName: ServiceAccount %q not found", sa)})
		}
	}

	for _, step := range wf.Spec.Steps {
		for _, env := range step.Env {
			if env.ValueFrom == nil {
				continue
			}
			var kind, name, key, reason string
			switch {
			case env.ValueFrom.SecretKeyRef != nil:
				ref := env.ValueFrom.SecretKeyRef
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				kind, name, key, reason = "Secret", ref.Name, ref.Key, ReasonSecretNotFound
			case env.ValueFrom.ConfigMapKeyRef != nil:
				ref := env.ValueFrom.ConfigMapKeyRef
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				kind, name, key, reason = "ConfigMap", ref.Name, ref.Key, ReasonConfigMapNotFound
			default:
				continue
			}
			found, hasKey, err := refs.hasKey(ctx, kind, name, key)
			if err != nil {
				return nil, err
			}
			where := fmt.Sprintf("step %q env %q", step.Name, env.Name)
			switch {
			case !found:
				problems = append(problems, workflowProblem{reason,
					fmt.Sprintf("%s: %s %q not found", where, kind, name)})
			case !hasKey:
				problems = append(problems, workflowProblem{reason,
					fmt.Sprintf("%s: key %q not found in %s %q", where, key, kind, name)})
			}
		}
	}
	return problems, nil
}

// referenceLookup reads each referenced object at most once per reconcile.
type referenceLookup struct {
	reader    client.Reader
	namespace string
	keys      map[string]map[string]bool // kind/name -> keys; nil map for a missing object
	seen      map[string]bool            // kind/name -> looked up
}

func (l *referenceLookup) exists(ctx context.Context, kind, name string) (bool, error) {
	found, _, err := l.hasKey(ctx, kind, name, "")
	return found, err
}

// hasKey reports whether the object exists and, when key is not empty, holds key.
func (l *referenceLookup) hasKey(ctx context.Context, kind, name, key string) (found, hasKey bool, err error) {
	id := kind + "/" + name
	if l.seen == nil {
		l.seen, l.keys = map[string]bool{}, map[string]map[string]bool{}
	}
	if !l.seen[id] {
		keys, err := l.get(ctx, kind, name)
		if err != nil {
			return false, false, err
		}
		l.seen[id], l.keys[id] = true, keys
	}
	keys := l.keys[id]
	if keys == nil {
		return false, false, nil
	}
	return true, keys[key], nil
}

// get returns the data keys of the object, an empty non-nil map for an object without
// keys, and nil when it does not exist.
func (l *referenceLookup) get(ctx context.Context, kind, name string) (map[string]bool, error) {
	keys := map[string]bool{}
	var obj client.Object
	switch kind {
	case "ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "Secret":
		obj = &corev1.Secret{}
	case "ConfigMap":
		obj = &corev1.ConfigMap{}
	default:
		return nil, fmt.Errorf("unknown reference kind %q", kind)
	}
	if name == "" {
		return nil, nil
	}
	if err := l.reader.Get(ctx, types.NamespacedName{Namespace: l.namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading %s %s/%s: %w", kind, l.namespace, name, err)
	}
	switch o := obj.(type) {
	case *corev1.Secret:
		for k := range o.Data {
			keys[k] = true
		}
		for k := range o.StringData {
			keys[k] = true
		}
	case *corev1.ConfigMap:
		for k := range o.Data {
			keys[k] = true
		}
		for k := range o.BinaryData {
			keys[k] = true
		}
	}
	return keys, nil
}
