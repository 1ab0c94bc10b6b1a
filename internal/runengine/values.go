package runengine

import (
	"context"
	"fmt"
	"sort"
	"strings"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

// Values are what a Run's expressions read: `when` (params, input, run, steps) and the
// $(steps.NAME.result...) references of a step's image, args and env.
type Values struct {
	Params map[string]string
	// Input is the Run's input, parsed when it is JSON; nil when there is none or it is
	// too large to be read by an expression.
	Input any
	Run   workflowexpr.RunVars
	// Results are the parsed results of succeeded steps, by step name, for the steps
	// whose results were looked up (Loaded); a looked-up step that wrote no result is in
	// Loaded and not in Results.
	Results map[string]any
	Loaded  map[string]bool
	// TooLarge are looked-up results over workflowexpr.MaxResultBytes (or not
	// readable as a value), by step name, with their size.
	TooLarge map[string]int64
}

// resultsNeeded are the steps whose results step i reads (its when and its
// references) that succeeded with a result not looked up yet.
func (p *pass) resultsNeeded(step *aiasv1alpha1.WorkflowStep) []string {
	var need []string
	for _, name := range readsResultsOf(step) {
		st := stepStatus(p.steps, name)
		if st == nil || st.Phase != aiasv1alpha1.StepSucceeded || st.OutputDigest == "" || p.in.Values.Loaded[name] {
			continue
		}
		need = append(need, name)
	}
	return need
}

// ResultsRead lists the steps whose results a step's when and $(steps...) references
// read (a name may repeat).
func ResultsRead(step *aiasv1alpha1.WorkflowStep) []string { return readsResultsOf(step) }

// readsResultsOf lists the steps a step's when, forEach and $(steps...) references read.
func readsResultsOf(step *aiasv1alpha1.WorkflowStep) []string {
	var names []string
	if step.When != "" {
		if w, err := workflowexpr.CompileWhen(step.When); err == nil {
			names = append(names, w.Steps()...)
		}
	}
	if step.ForEach != "" {
		if f, err := workflowexpr.CompileForEach(step.ForEach); err == nil {
			names = append(names, f.Steps()...)
		}
	}
	return append(names, referencedSteps(step)...)
}

// referencedSteps lists the steps a step's $(steps.NAME.result...) references name.
func referencedSteps(step *aiasv1alpha1.WorkflowStep) []string {
	var names []string
	for _, s := range TemplatedStrings(step) {
		for _, ref := range workflowexpr.Refs(s.Value) {
			names = append(names, ref.Step)
		}
	}
	return names
}

// TemplatedStrings are the strings of a step that $(steps...) references may appear in,
// with their field paths relative to the step.
func TemplatedStrings(step *aiasv1alpha1.WorkflowStep) []workflowexpr.FieldString {
	out := []workflowexpr.FieldString{{Field: "image", Value: step.Image}}
	for j, a := range step.Args {
		out = append(out, workflowexpr.FieldString{Field: fmt.Sprintf("args[%d]", j), Value: a})
	}
	for j, e := range step.Env {
		out = append(out, workflowexpr.FieldString{Field: fmt.Sprintf("env[%d].value", j), Value: e.Value})
	}
	if step.WorkflowRef != nil {
		for _, k := range sortedKeys(step.WorkflowRef.Params) {
			out = append(out, workflowexpr.FieldString{Field: "workflowRef.params." + k, Value: step.WorkflowRef.Params[k]})
		}
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// whenVars are the variables of step i's when and forEach expressions at this point of
// the pass.
func (p *pass) whenVars(i int) workflowexpr.Vars {
	return exprVars(p.in.Values, p.steps, p.in.main(), i)
}

// exprVars are the variables of step i's expressions given the steps' status.
func exprVars(v Values, stepStatus []aiasv1alpha1.StepStatus, main, i int) workflowexpr.Vars {
	if i >= main {
		v.Run.Phase, v.Run.FailedSteps = MainOutcome(stepStatus[:main])
	}
	steps := make(map[string]workflowexpr.StepVars, len(stepStatus))
	for _, st := range stepStatus {
		sv := workflowexpr.StepVars{Phase: string(st.Phase)}
		if r, ok := v.Results[st.Name]; ok {
			sv.Result, sv.HasResult = r, true
		}
		steps[st.Name] = sv
	}
	return workflowexpr.Vars{Params: v.Params, Input: v.Input, Run: v.Run, Steps: steps}
}

// MainOutcome is how the main steps ended, for finally steps: Failed when one failed
// (and which, comma-separated; a Run past its timeout has its running steps failed),
// else Canceled when the Run was canceled (its running steps canceled), else Succeeded.
func MainOutcome(main []aiasv1alpha1.StepStatus) (phase, failedSteps string) {
	var failed []string
	canceled := false
	for _, st := range main {
		switch st.Phase {
		case aiasv1alpha1.StepFailed:
			failed = append(failed, st.Name)
		case aiasv1alpha1.StepCanceled:
			canceled = true
		}
	}
	switch {
	case len(failed) > 0:
		return string(aiasv1alpha1.RunFailed), strings.Join(failed, ",")
	case canceled:
		return string(aiasv1alpha1.RunCanceled), ""
	}
	return string(aiasv1alpha1.RunSucceeded), ""
}

// gate decides, for a step whose dependencies allow it to start, whether it runs: its
// when is true (or absent) and every reference in its strings resolves. skip is the
// message of a step that is skipped; fail the message of one that fails.
func (p *pass) gate(i int, step *aiasv1alpha1.WorkflowStep) (skip, fail string) {
	// A when that reads a too-large result fails on its own (the step has no result
	// key); a reference gets the reason.
	for _, name := range referencedSteps(step) {
		if size, ok := p.in.Values.TooLarge[name]; ok {
			return "", fmt.Sprintf("the result of step %s is %d bytes, not a value of at most %d bytes of JSON or text", name, size, workflowexpr.MaxResultBytes)
		}
	}
	if step.When != "" {
		ok, err := workflowexpr.EvalWhen(context.Background(), step.When, p.whenVars(i))
		if err != nil {
			return "", fmt.Sprintf("when: %v", err)
		}
		if !ok {
			return "not run: when is false (" + step.When + ")", ""
		}
	}
	if step.ForEach != "" {
		return "", "" // its strings are resolved item by item (fanOut)
	}
	if _, err := ResolveStep(step, p.in.Values.Results, p.runVars(i), nil); err != nil {
		return "", err.Error()
	}
	return "", ""
}

// runVars is what $(run.…) means for step i: set for finally steps only.
func (p *pass) runVars(i int) *workflowexpr.RunVars {
	if i < p.in.main() {
		return nil
	}
	v := p.whenVars(i).Run
	return &v
}

// ResolveStep is step with every $(steps.NAME.result...) reference in its image, args
// and env values replaced by its value, for a finally step (run set) $(run.phase)
// and $(run.failedSteps), and for an item of a forEach step (item set) $(item...): the
// step an attempt runs. The step is returned as it is when it has no reference.
func ResolveStep(step *aiasv1alpha1.WorkflowStep, results map[string]any, run *workflowexpr.RunVars, item *workflowexpr.Item) (*aiasv1alpha1.WorkflowStep, error) {
	has := false
	for _, s := range TemplatedStrings(step) {
		if len(workflowexpr.Refs(s.Value)) > 0 || run != nil && strings.Contains(s.Value, "$(run.") || workflowexpr.HasItemRefs(s.Value) {
			has = true
			break
		}
	}
	if !has {
		return step, nil
	}
	out := step.DeepCopy()
	sub := func(field string, s *string) error {
		text := *s
		if run != nil {
			// Before the step references, so that a result holding "$(run.phase)" stays
			// literal (a phase and step names never hold "$(").
			text = strings.NewReplacer("$(run.phase)", run.Phase, "$(run.failedSteps)", run.FailedSteps).Replace(text)
		}
		v, err := workflowexpr.SubstituteItem(text, results, item)
		if err != nil {
			return fmt.Errorf("%s: %w", field, err)
		}
		*s = v
		return nil
	}
	if err := sub("image", &out.Image); err != nil {
		return nil, err
	}
	for j := range out.Args {
		if err := sub(fmt.Sprintf("args[%d]", j), &out.Args[j]); err != nil {
			return nil, err
		}
	}
	for j := range out.Env {
		if err := sub(fmt.Sprintf("env[%d].value", j), &out.Env[j].Value); err != nil {
			return nil, err
		}
	}
	if out.WorkflowRef != nil {
		for _, k := range sortedKeys(out.WorkflowRef.Params) {
			v := out.WorkflowRef.Params[k]
			if err := sub("workflowRef.params."+k, &v); err != nil {
				return nil, err
			}
			out.WorkflowRef.Params[k] = v
		}
	}
	return out, nil
}

// ValidateExpressions checks a Workflow spec's when, depends and $(steps...) references
// (internal/workflowexpr.Validate): admission refuses what it finds, the Workflow
// controller reports it in Ready (for Workflows admitted before these checks).
func ValidateExpressions(spec *aiasv1alpha1.WorkflowSpec) []workflowexpr.FieldError {
	main := shapes(spec, "spec.steps", spec.Steps, nil)
	errs := workflowexpr.Validate("spec.steps", main)
	for _, shape := range main {
		for _, fs := range shape.Strings {
			if strings.Contains(fs.Value, "$(run.") {
				errs = append(errs, workflowexpr.FieldError{Field: fs.Field,
					Message: "$(run.phase) and $(run.failedSteps) are known in finally steps only (spec.finally)"})
			}
		}
	}
	if len(spec.Finally) == 0 {
		return errs
	}
	// Finally steps form their own DAG, and every main step is an ancestor of each of
	// them (they run once all main steps ended): they may read any main step's phase
	// and result.
	all, _ := spec.RunSteps()
	mainNames := make([]string, len(spec.Steps))
	for i, s := range spec.Steps {
		mainNames[i] = s.Name
	}
	finallySpec := &aiasv1alpha1.WorkflowSpec{Steps: all.Steps[len(spec.Steps):]}
	return append(errs, workflowexpr.Validate("spec.finally", shapes(finallySpec, "spec.finally", finallySpec.Steps, mainNames))...)
}

func shapes(spec *aiasv1alpha1.WorkflowSpec, prefix string, steps []aiasv1alpha1.WorkflowStep, extraAncestors []string) []workflowexpr.StepShape {
	out := make([]workflowexpr.StepShape, len(steps))
	for i := range steps {
		step := &steps[i]
		strs := TemplatedStrings(step)
		for j := range strs {
			strs[j].Field = fmt.Sprintf("%s[%d].%s", prefix, i, strs[j].Field)
		}
		deps := append(append([]string(nil), spec.StepDependencies(i)...), extraAncestors...)
		out[i] = workflowexpr.StepShape{Name: step.Name, DependsOn: deps, Depends: step.Depends, When: step.When, ForEach: step.ForEach, Strings: strs}
		if r := step.Retries; r != nil && r.RetryOn != nil {
			out[i].RetryOn = r.RetryOn.Expression
		}
	}
	return out
}

// ReadsRun reports that a step's image, args or env read $(run.phase) or
// $(run.failedSteps) (finally steps).
func ReadsRun(step *aiasv1alpha1.WorkflowStep) bool {
	for _, s := range TemplatedStrings(step) {
		if strings.Contains(s.Value, "$(run.") {
			return true
		}
	}
	return false
}
