package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/params"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

// Step caching (issue 24): a step with cache set takes the outputs of an earlier
// Succeeded attempt of a Run in the same namespace with the same cache key, instead of
// running. The key is a sha256 of what determines the step's outputs as far as AIAS can
// see: the resolved step (image, command, args, env after every substitution), its input
// (the Run's input digest, or its dependencies' result digests) and the Run's parameter
// values; a cache.key expression's value stands in for input and parameters.

// cacheMaterial is what a cache key is the sha256 of.
type cacheMaterial struct {
	Image   string            `json:"image"`
	Command []string          `json:"command"`
	Args    []string          `json:"args,omitempty"`
	Env     []corev1.EnvVar   `json:"env,omitempty"`
	Input   string            `json:"input,omitempty"`
	From    map[string]string `json:"from,omitempty"`
	Params  map[string]string `json:"params,omitempty"`
	Key     json.RawMessage   `json:"key,omitempty"`
}

// cacheKey is step i's cache key, with steps the status as decided.
func (r *RunReconciler) cacheKey(ctx context.Context, s *runScope, in runengine.Input, steps []aiasv1alpha1.StepStatus, i int) (string, error) {
	spec, err := r.attemptSpec(ctx, s, stepUnit(s.spec, i))
	if err != nil {
		return "", err
	}
	step := spec.Steps[i]
	m := cacheMaterial{Image: step.Image, Command: step.Command, Args: step.Args, Env: step.Env}
	if expr := step.Cache.Key; expr != "" {
		in.Values = *s.values
		if m.Key, err = workflowexpr.EvalValue(ctx, expr, runengine.ExprVars(in, steps, i)); err != nil {
			return "", err
		}
	} else {
		from := inputSteps(steps, s.spec, i)
		if len(from) == 0 {
			m.Input = s.run.Status.InputDigest
		} else {
			digests := make(map[string]string, len(steps))
			for _, st := range steps {
				digests[st.Name] = st.OutputDigest
			}
			m.From = map[string]string{}
			for _, name := range from {
				m.From[name] = digests[name]
			}
		}
		m.Params = s.run.Spec.Params
		if resolved, err := params.Resolve(s.spec.Params, s.run.Spec.Params); err == nil {
			m.Params = resolved
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// lookupCache finds, and on a hit takes, what the cache holds for step i: in a resumed
// Run first the original's attempt when the step Succeeded there.
func (r *RunReconciler) lookupCache(ctx context.Context, s *runScope, in runengine.Input, steps []aiasv1alpha1.StepStatus, i int) (runengine.CacheLookup, error) {
	step, run := &s.spec.Steps[i], s.run
	if run.Spec.ResumeOf != "" && i < s.mainSteps {
		look, err := r.resumeStep(ctx, s, i)
		if err != nil || look.Hit != nil || step.Cache == nil {
			return look, err
		}
	}
	if err := r.ensureValues(ctx, s, runengine.ResultsRead(step)); err != nil {
		return runengine.CacheLookup{}, err
	}
	key, err := r.cacheKey(ctx, s, in, steps, i)
	if err != nil {
		// The step's own start resolves the same references and reports the error.
		return runengine.CacheLookup{}, nil
	}
	e, err := r.Store.LookupCache(ctx, run.Namespace, key, r.Now().Add(-step.Cache.TTL.Duration))
	switch {
	case errors.Is(err, store.ErrNotFound):
		return runengine.CacheLookup{}, nil
	case err != nil:
		return runengine.CacheLookup{}, fmt.Errorf("looking up the step cache: %w", err)
	case e.RunUID == string(run.UID):
		return runengine.CacheLookup{}, nil
	}
	err = r.Store.TakeCached(ctx, store.CacheTarget{Namespace: run.Namespace, RunUID: string(run.UID), RunName: run.Name, Step: step.Name}, e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return runengine.CacheLookup{}, nil // its Run went away meanwhile
	case err != nil:
		return runengine.CacheLookup{}, fmt.Errorf("taking the cached outputs of %s/%s: %w", e.RunName, e.Step, err)
	}
	return runengine.CacheLookup{Hit: &aiasv1alpha1.CachedFrom{Run: e.RunName, Step: e.Step, Attempt: int32(e.Attempt)}, OutputDigest: e.OutputDigest}, nil
}

// recordCache enters the steps with cache that succeeded in this decision (by running,
// not from the cache) into the namespace's step cache.
func (r *RunReconciler) recordCache(ctx context.Context, s *runScope, in runengine.Input, before, steps []aiasv1alpha1.StepStatus) error {
	for i := range s.spec.Steps {
		step, st := &s.spec.Steps[i], &steps[i]
		if step.Cache == nil || st.Phase != aiasv1alpha1.StepSucceeded || st.CachedFrom != nil || i < len(before) && before[i].Phase == aiasv1alpha1.StepSucceeded {
			continue
		}
		key, err := r.cacheKey(ctx, s, in, steps, i)
		if err != nil {
			continue
		}
		finished := r.Now()
		if st.CompletionTime != nil {
			finished = st.CompletionTime.Time
		}
		err = r.Store.RecordCache(ctx, store.CacheEntry{Namespace: s.run.Namespace, Key: key, RunUID: string(s.run.UID), RunName: s.run.Name,
			Step: step.Name, Attempt: int(st.Attempts), OutputDigest: st.OutputDigest, FinishedAt: finished.Truncate(time.Microsecond)})
		if err != nil && !errors.Is(err, store.ErrRunGone) {
			return fmt.Errorf("recording step %s in the cache: %w", step.Name, err)
		}
	}
	return nil
}

// resumeStep takes step i's outputs from the Run this one resumes, when it Succeeded
// there (whatever its cache setting: resuming reruns only what did not succeed).
func (r *RunReconciler) resumeStep(ctx context.Context, s *runScope, i int) (runengine.CacheLookup, error) {
	orig, err := r.original(ctx, s)
	if err != nil || orig == nil {
		return runengine.CacheLookup{}, err
	}
	name := s.spec.Steps[i].Name
	var done *aiasv1alpha1.StepStatus
	for j := range orig.Status.Steps {
		if st := &orig.Status.Steps[j]; st.Name == name && st.Phase == aiasv1alpha1.StepSucceeded {
			done = st
		}
	}
	if done == nil {
		return runengine.CacheLookup{}, nil
	}
	from := aiasv1alpha1.CachedFrom{Run: orig.Name, Step: name, Attempt: done.Attempts}
	if done.CachedFrom != nil {
		from = *done.CachedFrom // the outputs' own origin
	}
	run := s.run
	e := store.CacheEntry{Namespace: run.Namespace, RunUID: string(orig.UID), RunName: orig.Name, Step: name,
		Attempt: int(max(done.Attempts, 1)), OutputDigest: done.OutputDigest}
	err = r.Store.TakeCached(ctx, store.CacheTarget{Namespace: run.Namespace, RunUID: string(run.UID), RunName: run.Name, Step: name}, e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return runengine.CacheLookup{}, nil
	case err != nil:
		return runengine.CacheLookup{}, fmt.Errorf("taking the outputs of %s/%s: %w", orig.Name, name, err)
	}
	return runengine.CacheLookup{Hit: &from, OutputDigest: done.OutputDigest}, nil
}

// original is the Run s.run resumes, read once per reconcile; nil when it is gone.
func (r *RunReconciler) original(ctx context.Context, s *runScope) (*aiasv1alpha1.Run, error) {
	if s.original != nil {
		return s.original, nil
	}
	orig := &aiasv1alpha1.Run{}
	err := r.Get(ctx, clientKey(s.run.Namespace, s.run.Spec.ResumeOf), orig)
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s.original = orig
	return orig, nil
}
