package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

// attemptUnit is what one attempt runs: step index of the spec, or item item of that
// forEach step. name is what the attempt goes by wherever an attempt is named by its
// step (Job name, ticket, store, $AIAS_STEP): the step's name, or
// aiasv1alpha1.ItemStepName(step, item).
type attemptUnit struct {
	index int
	item  int // -1: the step itself
	step  string
	name  string
}

func stepUnit(spec *aiasv1alpha1.WorkflowSpec, i int) attemptUnit {
	return attemptUnit{index: i, item: -1, step: spec.Steps[i].Name, name: spec.Steps[i].Name}
}

func itemUnit(spec *aiasv1alpha1.WorkflowSpec, i, k int) attemptUnit {
	name := spec.Steps[i].Name
	return attemptUnit{index: i, item: k, step: name, name: aiasv1alpha1.ItemStepName(name, k)}
}

func startUnit(spec *aiasv1alpha1.WorkflowSpec, start runengine.Start) attemptUnit {
	if start.Item >= 0 {
		return itemUnit(spec, start.Index, start.Item)
	}
	return stepUnit(spec, start.Index)
}

// unitOfJob is the attempt name a step Job's labels give: its step, or for an item its
// step and index.
func unitOfJob(labels map[string]string) string {
	step := labels[aiasv1alpha1.LabelStep]
	if item, ok := labels[aiasv1alpha1.LabelItem]; ok {
		if k, err := strconv.Atoi(item); err == nil && k >= 0 {
			return aiasv1alpha1.ItemStepName(step, k)
		}
	}
	return step
}

// status is the unit's attempt record in the Run's status: phase, attempts and Job
// name, whether it is a step or an item.
func (u attemptUnit) status(run *aiasv1alpha1.Run) (phase aiasv1alpha1.StepPhase, attempts int32, job *string) {
	st := &run.Status.Steps[u.index]
	if u.item < 0 {
		return st.Phase, st.Attempts, &st.JobName
	}
	if u.item >= len(st.Items) {
		return "", 0, nil
	}
	it := &st.Items[u.item]
	return it.Phase, it.Attempts, &it.JobName
}

// itemValue is item k of forEach step i's list, evaluated again from the values the
// engine fanned it out with (runengine.ItemValues: they never change once it did).
func (r *RunReconciler) itemValue(ctx context.Context, s *runScope, i, k int) (any, error) {
	if err := r.ensureValues(ctx, s, runengine.ResultsRead(&s.spec.Steps[i])); err != nil {
		return nil, err
	}
	in := runengine.Input{Spec: s.spec, MainSteps: s.mainSteps, Status: &s.run.Status, Values: *s.values}
	items, err := runengine.ItemValues(in, i)
	if err != nil {
		return nil, fmt.Errorf("step %s: %w", s.spec.Steps[i].Name, err)
	}
	if k >= len(items) {
		return nil, fmt.Errorf("step %s: its list has %d items now, not the %d it fanned out to", s.spec.Steps[i].Name, len(items), k+1)
	}
	return items[k], nil
}

// withItemEnv is step with $AIAS_ITEM and $AIAS_ITEM_INDEX set for item k.
func withItemEnv(step *aiasv1alpha1.WorkflowStep, k int, item any) (*aiasv1alpha1.WorkflowStep, error) {
	js, err := workflowexpr.ItemJSON(item)
	if err != nil {
		return nil, fmt.Errorf("item %d: %w", k, err)
	}
	out := step.DeepCopy()
	out.Env = append(out.Env,
		corev1.EnvVar{Name: stepjob.EnvItem, Value: js},
		corev1.EnvVar{Name: stepjob.EnvItemIndex, Value: strconv.Itoa(k)})
	return out, nil
}

// Bounds of a forEach step's result array: an item's result goes in as a value when it
// is at most workflowexpr.MaxResultBytes and the array stays within maxResultArrayBytes;
// otherwise it is null there (the item's own result artifact keeps it whole) and the
// step's message says which.
const maxResultArrayBytes = 1 << 20

// writeResultArray stores forEach step i's result: the JSON array of its items'
// results in item order (null for an item that failed, wrote none, or whose result is
// too large to embed), as the step's `result` artifact (attempt 1). It is
// content-addressed, so writing it again after a crash stores nothing new.
func (r *RunReconciler) writeResultArray(ctx context.Context, s *runScope, steps []aiasv1alpha1.StepStatus, i int) (runengine.ResultArray, error) {
	run, st := s.run, &steps[i]
	var buf bytes.Buffer
	buf.WriteByte('[')
	var tooLarge []string
	for k, it := range st.Items {
		if k > 0 {
			buf.WriteByte(',')
		}
		value := []byte("null")
		if it.Phase == aiasv1alpha1.StepSucceeded && it.OutputDigest != "" {
			b, size, err := r.readResult(ctx, it.OutputDigest)
			switch {
			case errors.Is(err, store.ErrNotFound):
			case err != nil:
				return runengine.ResultArray{}, fmt.Errorf("reading the result of %s: %w", aiasv1alpha1.ItemStepName(st.Name, k), err)
			case size > workflowexpr.MaxResultBytes || int64(buf.Len())+size > maxResultArrayBytes:
				tooLarge = append(tooLarge, strconv.Itoa(k))
			default:
				value = embeddable(b)
			}
		}
		buf.Write(value)
	}
	buf.WriteByte(']')
	key := store.ArtifactKey{Namespace: run.Namespace, RunName: run.Name, RunUID: string(run.UID), Step: st.Name, Attempt: 1, Name: stepjob.ResultArtifact}
	a, err := r.Store.PutArtifact(ctx, key, "application/json", &buf, maxResultArrayBytes+64, "")
	var quota *store.QuotaError
	switch {
	case errors.As(err, &quota):
		return runengine.ResultArray{Error: "its result array could not be stored: " + err.Error()}, nil
	case err != nil:
		return runengine.ResultArray{}, fmt.Errorf("storing the result array of step %s: %w", st.Name, err)
	}
	out := runengine.ResultArray{Digest: a.Digest}
	if len(tooLarge) > 0 {
		out.Note = fmt.Sprintf("the results of items %s are null in the result array (over %d bytes, or past its %d); read them as %s's result",
			strings.Join(tooLarge, ", "), workflowexpr.MaxResultBytes, maxResultArrayBytes, st.Name+".<index>")
	}
	return out, nil
}

// embeddable is an item's result as it goes into the array: its JSON when it is JSON,
// else the text as a JSON string.
func embeddable(b []byte) []byte {
	if json.Valid(b) && len(bytes.TrimSpace(b)) > 0 {
		var compact bytes.Buffer
		if json.Compact(&compact, b) == nil {
			return compact.Bytes()
		}
	}
	s, _ := json.Marshal(string(b))
	return s
}
