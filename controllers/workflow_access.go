package controllers

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// What a Workflow may reach is what was shared with Workflows, not what the manager may
// read. The manager creates step Pods with its own rights, so without this rule anyone
// allowed to write a Workflow — an aias-editor, who may not read Secrets — could print
// any Secret of the namespace through a step's env, or run as any ServiceAccount. A
// Secret or ServiceAccount is shared by labelling it aias.dev/workflow-access=true, which
// only someone allowed to write it can do. The Workflow controller reports unshared
// references in Ready; the Run controller refuses the step's Pod, at every attempt, so
// removing the label takes effect for the next attempt.

// accessRefusals lists the Secrets and the ServiceAccount that steps (all of them when
// step < 0) would reach but that are not shared with Workflows. A missing object is not
// listed: the kubelet cannot hand it out (referenceProblems reports it).
func accessRefusals(ctx context.Context, reader client.Reader, namespace string, spec *aiasv1alpha1.WorkflowSpec, step int) ([]readyProblem, error) {
	var problems []readyProblem
	shared := func(kind, name string) (bool, error) {
		obj := &metav1.PartialObjectMetadata{}
		obj.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(kind))
		err := reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, obj)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading %s %s/%s: %w", kind, namespace, name, err)
		}
		return obj.Labels[aiasv1alpha1.LabelWorkflowAccess] == aiasv1alpha1.WorkflowAccessAllowed, nil
	}
	if sa := spec.ServiceAccountName; sa != "" {
		ok, err := shared("ServiceAccount", sa)
		if err != nil {
			return nil, err
		}
		if !ok {
			problems = append(problems, readyProblem{aiasv1alpha1.ReasonNotShared, fmt.Sprintf(
				"spec.serviceAccountName: ServiceAccount %q is not shared with workflows (label it %s=%s)",
				sa, aiasv1alpha1.LabelWorkflowAccess, aiasv1alpha1.WorkflowAccessAllowed)})
		}
	}
	// A Secret reached several ways is checked (and reported) once, as the first use names it.
	checked := map[string]bool{}
	checkSecret := func(name, use string) error {
		if checked[name] {
			return nil
		}
		checked[name] = true
		ok, err := shared("Secret", name)
		if err == nil && !ok {
			problems = append(problems, readyProblem{aiasv1alpha1.ReasonNotShared, fmt.Sprintf(
				"%s: Secret %q is not shared with workflows (label it %s=%s)",
				use, name, aiasv1alpha1.LabelWorkflowAccess, aiasv1alpha1.WorkflowAccessAllowed)})
		}
		return err
	}
	for i, s := range spec.Steps {
		if step >= 0 && i != step {
			continue
		}
		for _, v := range spec.Placement(&spec.Steps[i]).Volumes {
			if v.Secret == nil {
				continue
			}
			if err := checkSecret(v.Secret.SecretName, fmt.Sprintf("step %q volume %q", s.Name, v.Name)); err != nil {
				return nil, err
			}
		}
		for _, env := range s.Env {
			if env.ValueFrom == nil || env.ValueFrom.SecretKeyRef == nil {
				continue
			}
			if err := checkSecret(env.ValueFrom.SecretKeyRef.Name, fmt.Sprintf("step %q env %q", s.Name, env.Name)); err != nil {
				return nil, err
			}
		}
	}
	return problems, nil
}
