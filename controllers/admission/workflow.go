package admission

import (
	"context"
	"fmt"
	"strings"
	"time"

	cradmission "sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/params"
	"github.com/aias-dev/aias/internal/runengine"
)

// WorkflowValidator holds Workflows to their tenant's plan:
//   - create: at most spec.limits.workflows Workflows per namespace, at most
//     spec.limits.stepsPerWorkflow steps, no step timeout above spec.limits.maxStepTimeout;
//   - update: the step count and the longest step timeout may not exceed the limit unless
//     they do not grow (so a Workflow over a lowered limit can still be edited, as long as
//     the edit adds no steps and raises no timeout);
//   - delete: always allowed.
//
// A step without a timeout is not checked here: the Run controller gives it the plan's
// maxStepTimeout when a Run freezes the spec.
type WorkflowValidator struct {
	count namespaceCount
}

var _ cradmission.Validator[*aiasv1alpha1.Workflow] = &WorkflowValidator{}

// ValidateCreate checks the namespace's Workflow count and the Workflow's shape.
func (a *WorkflowValidator) ValidateCreate(ctx context.Context, wf *aiasv1alpha1.Workflow) (cradmission.Warnings, error) {
	if err := checkParamReferences(wf); err != nil {
		return nil, err
	}
	nl, ok, err := a.count.admitCreate(ctx, wf)
	if err != nil || !ok {
		return nil, err
	}
	return nil, checkWorkflowShape(nl, nil, wf)
}

// ValidateUpdate denies only changes that take the Workflow further past its plan's limits.
func (a *WorkflowValidator) ValidateUpdate(ctx context.Context, oldWf, wf *aiasv1alpha1.Workflow) (cradmission.Warnings, error) {
	if err := checkParamReferences(wf); err != nil {
		return nil, err
	}
	nl, err := a.count.limits.forNamespace(ctx, wf.Namespace)
	if err != nil {
		return nil, err
	}
	if nl.Tenant == "" || nl.PlanMissing {
		// Nothing to hold an existing Workflow to; creates are where these cases are refused.
		return nil, nil
	}
	return nil, checkWorkflowShape(nl, oldWf, wf)
}

// ValidateDelete allows every delete.
func (a *WorkflowValidator) ValidateDelete(context.Context, *aiasv1alpha1.Workflow) (cradmission.Warnings, error) {
	return nil, nil
}

// checkWorkflowShape checks the step count and step timeouts against the plan; with old
// set (an update), a value over the limit passes when it is no larger than old's.
func checkWorkflowShape(nl namespaceLimits, old, wf *aiasv1alpha1.Workflow) error {
	if err := checkPlacement(nl, old, wf); err != nil {
		return err
	}
	if limit := nl.Limits.StepsPerWorkflow; limit != nil {
		// Finally steps are steps: each runs a Job.
		n := len(wf.Spec.Steps) + len(wf.Spec.Finally)
		if n > int(*limit) && (old == nil || n > len(old.Spec.Steps)+len(old.Spec.Finally)) {
			return fmt.Errorf("plan %q allows %d steps per Workflow (spec.limits.stepsPerWorkflow) and this Workflow has %d", nl.Plan, *limit, n)
		}
	}
	if limit := nl.Limits.MaxStepTimeout; limit != nil {
		step, longest := longestStepTimeout(wf)
		var oldLongest time.Duration
		if old != nil {
			_, oldLongest = longestStepTimeout(old)
		}
		if longest > limit.Duration && (old == nil || longest > oldLongest) {
			return fmt.Errorf("plan %q allows step timeouts up to %s (spec.limits.maxStepTimeout) and step %q has %s", nl.Plan, limit.Duration, step, longest)
		}
	}
	return nil
}

func longestStepTimeout(wf *aiasv1alpha1.Workflow) (string, time.Duration) {
	var name string
	var longest time.Duration
	for _, s := range append(append([]aiasv1alpha1.WorkflowStep(nil), wf.Spec.Steps...), wf.Spec.Finally...) {
		if s.Timeout != nil && s.Timeout.Duration > longest {
			name, longest = s.Name, s.Timeout.Duration
		}
	}
	return name, longest
}

// checkParamReferences refuses a step that reads a parameter the Workflow does not
// declare: the Run would otherwise run with the literal $(params.NAME) text.
func checkParamReferences(wf *aiasv1alpha1.Workflow) error {
	if refs := params.Undeclared(&wf.Spec); len(refs) > 0 {
		return fmt.Errorf("%s names a parameter spec.params does not declare", strings.Join(refs, ", "))
	}
	if errs := runengine.ValidateExpressions(&wf.Spec); len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return fmt.Errorf("%s", strings.Join(msgs, "; "))
	}
	for field, steps := range map[string][]aiasv1alpha1.WorkflowStep{"spec.steps": wf.Spec.Steps, "spec.finally": wf.Spec.Finally} {
		for i, st := range steps {
			if st.WorkflowRef != nil && st.WorkflowRef.Name == wf.Name {
				return fmt.Errorf("%s[%d].workflowRef.name: workflow %s cannot run itself (a cycle through other Workflows ends at depth %d at run time)",
					field, i, wf.Name, aiasv1alpha1.MaxWorkflowDepth)
			}
		}
	}
	if c := wf.Spec.Concurrency; c != nil && c.Key != "" {
		return params.CompileKey(c.Key)
	}
	return nil
}
