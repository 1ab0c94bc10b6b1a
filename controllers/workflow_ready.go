package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/params"
	"github.com/aias-dev/aias/internal/runengine"
)

// maxReadyProblems bounds how many problems the Ready message lists.
const maxReadyProblems = 10

// readyProblem is one reason a Workflow or WebhookEndpoint cannot work as declared: the
// Ready condition takes its reason from the first and lists their messages.
type readyProblem struct{ reason, message string }

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
		problems = append(problems, readyProblem{aiasv1alpha1.ReasonUndeclaredParam, ref + " names a parameter spec.params does not declare"})
	}
	for _, e := range runengine.ValidateExpressions(&wf.Spec) {
		problems = append(problems, readyProblem{aiasv1alpha1.ReasonInvalidStepExpression, e.Error()})
	}
	if c := wf.Spec.Concurrency; c != nil && c.Key != "" {
		if err := params.CompileKey(c.Key); err != nil {
			problems = append(problems, readyProblem{aiasv1alpha1.ReasonInvalidConcurrencyKey, err.Error()})
		}
	}
	if len(problems) > 0 {
		setWorkflowReady(wf, metav1.ConditionFalse, problems[0].reason, problemsMessage(problems), r.now())
		return r.notReadyRequeue(), nil
	}
	setWorkflowReady(wf, metav1.ConditionTrue, aiasv1alpha1.ReasonReady, "Workflow is ready to run", r.now())
	return 0, nil
}

func problemsMessage(problems []readyProblem) string {
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
func (r *WorkflowReconciler) referenceProblems(ctx context.Context, wf *aiasv1alpha1.Workflow) ([]readyProblem, error) {
	refs := referenceLookup{reader: r.apiReader(), namespace: wf.Namespace}
	var problems []readyProblem

	if sa := wf.Spec.ServiceAccountName; sa != "" {
		found, err := refs.exists(ctx, "ServiceAccount", sa)
		if err != nil {
			return nil, err
		}
		if !found {
			problems = append(problems, readyProblem{aiasv1alpha1.ReasonServiceAccountNotFound,
				fmt.Sprintf("spec.serviceAccountName: ServiceAccount %q not found", sa)})
		}
	}

	all, _ := wf.Spec.RunSteps()
	for _, step := range all.Steps {
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
				kind, name, key, reason = "Secret", ref.Name, ref.Key, aiasv1alpha1.ReasonSecretNotFound
			case env.ValueFrom.ConfigMapKeyRef != nil:
				ref := env.ValueFrom.ConfigMapKeyRef
				if ref.Optional != nil && *ref.Optional {
					continue
				}
				kind, name, key, reason = "ConfigMap", ref.Name, ref.Key, aiasv1alpha1.ReasonConfigMapNotFound
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
				problems = append(problems, readyProblem{reason,
					fmt.Sprintf("%s: %s %q not found", where, kind, name)})
			case !hasKey:
				problems = append(problems, readyProblem{reason,
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
