package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/params"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

// maxWhenInput bounds the Run input a when expression may read: a larger input (they
// may be 32 MiB) is not loaded, and `input` is then null.
const maxWhenInput = 1 << 20

// runValues are the values the Run's expressions read that do not come from its steps:
// parameters, the trigger, and the input when some step has a when. Step results are
// loaded on demand (loadResults), when the engine asks for them.
func (r *RunReconciler) runValues(ctx context.Context, s *runScope) (runengine.Values, error) {
	run := s.run
	v := runengine.Values{Results: map[string]any{}, Loaded: map[string]bool{}, TooLarge: map[string]int64{}}
	v.Run.Name = run.Name
	if t := run.Spec.Trigger; t != nil {
		v.Run.Trigger, v.Run.Endpoint, v.Run.DeliveryID = string(t.Type), t.Endpoint, t.DeliveryID
	}
	if v.Run.Trigger == "" {
		v.Run.Trigger = string(aiasv1alpha1.TriggerManual)
	}
	pending, readsInput := pendingWhens(s.spec, run.Status.Steps)
	if !pending {
		return v, nil
	}
	v.Params = run.Spec.Params
	if resolved, err := params.Resolve(s.spec.Params, run.Spec.Params); err == nil {
		v.Params = resolved
	}
	if !readsInput {
		return v, nil
	}
	raw, err := r.whenInput(ctx, run)
	if err != nil {
		return v, err
	}
	v.Input = parseValue(raw)
	return v, nil
}

// pendingWhens says whether a step not decided yet has a when, or a forEach step has
// not ended (its list is evaluated again to build each item's Pod), and whether one of
// those expressions may read the Run's input: a stored input is then read once for
// this reconcile, never for a Run whose expressions are all settled.
func pendingWhens(spec *aiasv1alpha1.WorkflowSpec, steps []aiasv1alpha1.StepStatus) (pending, readsInput bool) {
	for i, st := range spec.Steps {
		phase := aiasv1alpha1.StepPending
		if i < len(steps) && steps[i].Phase != "" {
			phase = steps[i].Phase
		}
		if st.When != "" && phase == aiasv1alpha1.StepPending {
			pending = true
			readsInput = readsInput || strings.Contains(st.When, "input")
		}
		if st.ForEach != "" && !runengine.StepFinished(phase) {
			pending = true
			readsInput = readsInput || strings.Contains(st.ForEach, "input")
		}
	}
	return pending, readsInput
}

// whenInput is the Run's input for when expressions: nil when it has none or it is over
// maxWhenInput.
func (r *RunReconciler) whenInput(ctx context.Context, run *aiasv1alpha1.Run) ([]byte, error) {
	switch {
	case run.Spec.Input != nil:
		return []byte(*run.Spec.Input), nil
	case run.Spec.InputRef != nil && run.Spec.InputRef.Size <= maxWhenInput:
		b, _, err := r.Store.GetInput(ctx, run.Namespace, run.Spec.InputRef.Digest)
		if errors.Is(err, store.ErrNotFound) {
			return nil, nil
		}
		return b, err
	}
	return nil, nil
}

// parseValue is JSON parsed when it is JSON, else the text; nil for no bytes.
func parseValue(b []byte) any {
	if b == nil {
		return nil
	}
	var v any
	if json.Unmarshal(b, &v) == nil {
		return v
	}
	return string(b)
}

// loadResults looks up the results of the named succeeded steps into v: parsed, or
// recorded as too large to be a value. steps are the steps' status as last decided (a
// step that succeeded in the pass asking for its result is not in the Run's status yet).
func (r *RunReconciler) loadResults(ctx context.Context, steps []aiasv1alpha1.StepStatus, v *runengine.Values, names []string) error {
	for _, name := range names {
		if v.Loaded[name] {
			continue
		}
		var digest string
		for _, st := range steps {
			if st.Name == name {
				digest = st.OutputDigest
			}
		}
		v.Loaded[name] = true
		if digest == "" {
			continue
		}
		b, size, err := r.readResult(ctx, digest)
		switch {
		case errors.Is(err, store.ErrNotFound):
			continue
		case err != nil:
			return fmt.Errorf("reading the result of step %s: %w", name, err)
		case size > workflowexpr.MaxResultBytes:
			v.TooLarge[name] = size
			continue
		}
		val, err := workflowexpr.ParseResult(b)
		if err != nil {
			v.TooLarge[name] = size
			continue
		}
		v.Results[name] = val
	}
	return nil
}

// readResult reads a result blob, no more than MaxResultBytes of it.
func (r *RunReconciler) readResult(ctx context.Context, digest string) ([]byte, int64, error) {
	rc, size, err := r.Store.OpenBlob(ctx, digest)
	if err != nil {
		return nil, 0, err
	}
	defer rc.Close()
	if size > workflowexpr.MaxResultBytes {
		return nil, size, nil
	}
	b, err := io.ReadAll(io.LimitReader(rc, workflowexpr.MaxResultBytes+1))
	return b, size, err
}

// attemptSpec is the frozen spec with u's $(steps...), $(run...) and $(item...)
// references resolved and, for an item, $AIAS_ITEM set: what its attempts run. The
// results it reads are loaded when this reconcile has not yet.
func (r *RunReconciler) attemptSpec(ctx context.Context, s *runScope, u attemptUnit) (*aiasv1alpha1.WorkflowSpec, error) {
	i := u.index
	step := &s.spec.Steps[i]
	reads := runengine.ResultsRead(step)
	if len(reads) == 0 && u.item < 0 && (i < s.mainSteps || !runengine.ReadsRun(step)) {
		return s.spec, nil
	}
	if err := r.ensureValues(ctx, s, reads); err != nil {
		return nil, err
	}
	var run *workflowexpr.RunVars
	if i >= s.mainSteps {
		v := s.values.Run
		v.Phase, v.FailedSteps = runengine.MainOutcome(s.run.Status.Steps[:s.mainSteps])
		run = &v
	}
	var item *workflowexpr.Item
	if u.item >= 0 {
		value, err := r.itemValue(ctx, s, i, u.item)
		if err != nil {
			return nil, err
		}
		item = &workflowexpr.Item{Value: value}
	}
	resolved, err := runengine.ResolveStep(step, s.values.Results, run, item)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", u.name, err)
	}
	if item != nil {
		if resolved, err = withItemEnv(resolved, u.item, item.Value); err != nil {
			return nil, fmt.Errorf("step %s: %w", u.name, err)
		}
	}
	spec := *s.spec
	spec.Steps = append([]aiasv1alpha1.WorkflowStep(nil), s.spec.Steps...)
	spec.Steps[i] = *resolved
	return &spec, nil
}

// ensureValues makes sure this reconcile has the Run's values, with the results of the
// named steps loaded.
func (r *RunReconciler) ensureValues(ctx context.Context, s *runScope, reads []string) error {
	if s.values == nil {
		v, err := r.runValues(ctx, s)
		if err != nil {
			return err
		}
		s.values = &v
	}
	return r.loadResults(ctx, s.run.Status.Steps, s.values, reads)
}
