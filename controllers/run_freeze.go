package controllers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/lru"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/params"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/store"
)

// maxCachedSpecs bounds the decoded specs kept: one per Workflow version with Runs in
// flight is what is reused; a miss costs one store read.
const maxCachedSpecs = 1024

// specCache keeps decoded frozen specs by digest, least recently used out: they never
// change, and every reconcile of a running Run needs its own.
type specCache struct {
	once sync.Once
	c    *lru.Cache
}

type cachedSpec struct {
	spec *aiasv1alpha1.WorkflowSpec
	// stored is when this process last stored the spec; zero for a spec it only loaded.
	stored time.Time
}

func (c *specCache) cache() *lru.Cache {
	c.once.Do(func() { c.c = lru.New(maxCachedSpecs) })
	return c.c
}

func (c *specCache) entry(digest string) (cachedSpec, bool) {
	v, ok := c.cache().Get(digest)
	if !ok {
		return cachedSpec{}, false
	}
	return v.(cachedSpec), true
}

func (c *specCache) get(digest string) *aiasv1alpha1.WorkflowSpec {
	e, _ := c.entry(digest)
	return e.spec
}

// storedSince reports that this process stored the spec at or after t: the store then
// keeps it (store.SpecReuseWindow) and another Run may name it without storing it again.
func (c *specCache) storedSince(digest string, t time.Time) bool {
	e, ok := c.entry(digest)
	return ok && !e.stored.IsZero() && !e.stored.Before(t)
}

// put caches a spec; stored is when this process stored it (zero: only loaded).
func (c *specCache) put(digest string, spec *aiasv1alpha1.WorkflowSpec, stored time.Time) {
	c.cache().Add(digest, cachedSpec{spec: spec, stored: stored})
}

// len is how many specs are cached.
func (c *specCache) len() int { return c.cache().Len() }

// freeze returns the Workflow spec the Run runs with. On first sight it resolves the
// Workflow, stores the spec and the input in the store (record first, then point to it
// from status: a crash in between leaves an unreferenced row, never a dangling digest)
// and indexes the Run. A nil spec without error means the Run cannot go on: it was
// rejected, or it waits (wait > 0) for its Workflow.
func (r *RunReconciler) freeze(ctx context.Context, s *runScope, tp *entitlements.Entitlement) (*aiasv1alpha1.WorkflowSpec, time.Duration, error) {
	run := s.run
	if d := run.Status.SpecDigest; d != "" {
		spec, err := r.frozenSpec(ctx, d)
		return spec, 0, err
	}

	if run.Spec.ResumeOf != "" {
		return r.freezeResume(ctx, s)
	}
	wf := &aiasv1alpha1.Workflow{}
	err := r.Get(ctx, clientKey(run.Namespace, run.Spec.WorkflowRef.Name), wf)
	if apierrors.IsNotFound(err) {
		// A Workflow applied together with the Run may reach the cache a moment later:
		// wait out a short grace period, then fail with a reason that names what is missing.
		msg := fmt.Sprintf("workflow %q does not exist in namespace %s", run.Spec.WorkflowRef.Name, run.Namespace)
		if wait := run.CreationTimestamp.Add(r.WorkflowGrace).Sub(r.Now()); wait > 0 {
			setRunAwaitingWorkflow(run, msg+"; waiting briefly for it")
			run.Status.Message = readyMessage(run)
			return nil, wait, nil
		}
		r.reject(s, aiasv1alpha1.RunFailed, aiasv1alpha1.RunReasonWorkflowNotFound, msg)
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}

	inputDigest, err := r.storeInput(ctx, run)
	if errors.Is(err, store.ErrNotFound) {
		r.reject(s, aiasv1alpha1.RunFailed, aiasv1alpha1.RunReasonInputNotFound, fmt.Sprintf(
			"spec.inputRef.digest %s: no input with this digest is stored for namespace %s (a Run reads only inputs stored for its own namespace)",
			run.Spec.InputRef.Digest, run.Namespace))
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	values, err := params.Resolve(wf.Spec.Params, run.Spec.Params)
	if err != nil {
		r.reject(s, aiasv1alpha1.RunRejected, aiasv1alpha1.RunReasonInvalidParams, fmt.Sprintf("spec.params: %v (workflow %s)", err, wf.Name))
		return nil, 0, nil
	}
	resolved := wf.Spec.DeepCopy()
	boundStepTimeouts(tp, resolved)
	// The values are part of the frozen spec (and so of its digest): two Runs with the
	// same Workflow and parameters share one spec, and a replay with the same values
	// runs exactly what the original ran.
	params.Apply(resolved, values)
	raw, err := json.Marshal(resolved)
	if err != nil {
		return nil, 0, err
	}
	sum := sha256.Sum256(raw)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	// Every Run of a Workflow shares its spec: stored once per reuse window, not per Run.
	// Past the window it is stored again (which refreshes it), because the sweep may by
	// then have taken a spec whose Runs were all deleted while it sat in this cache.
	if now := r.Now(); !r.specs.storedSince(digest, now.Add(-store.SpecReuseWindow)) {
		if _, err := r.Store.PutWorkflowSpec(ctx, raw); err != nil {
			return nil, 0, fmt.Errorf("storing the workflow spec: %w", err)
		}
		r.specs.put(digest, resolved, now)
	}
	spec := resolved
	run.Status.SpecDigest, run.Status.InputDigest = digest, inputDigest
	all, _ := spec.RunSteps()
	run.Status.Steps = make([]aiasv1alpha1.StepStatus, len(all.Steps))
	for i, s := range all.Steps {
		run.Status.Steps[i] = aiasv1alpha1.StepStatus{Name: s.Name, Phase: aiasv1alpha1.StepPending}
	}
	run.Status.StepsSummary = runengine.Summary(run.Status.Steps)
	return spec, 0, nil
}

// freezeResume freezes a Run that resumes another: it runs the original's frozen spec
// (parameters and step timeouts included), whatever the Workflow says now, with the
// input its creator copied from the original.
func (r *RunReconciler) freezeResume(ctx context.Context, s *runScope) (*aiasv1alpha1.WorkflowSpec, time.Duration, error) {
	run := s.run
	orig, err := r.original(ctx, s)
	if err != nil {
		return nil, 0, err
	}
	if orig == nil || orig.Status.SpecDigest == "" {
		msg := fmt.Sprintf("spec.resumeOf: run %q does not exist in namespace %s", run.Spec.ResumeOf, run.Namespace)
		if orig != nil {
			msg = fmt.Sprintf("spec.resumeOf: run %q never started, so there is nothing to resume", run.Spec.ResumeOf)
		}
		r.reject(s, aiasv1alpha1.RunFailed, aiasv1alpha1.RunReasonOriginalNotFound, msg)
		return nil, 0, nil
	}
	digest := orig.Status.SpecDigest
	spec, err := r.frozenSpec(ctx, digest)
	if err != nil {
		return nil, 0, err
	}
	inputDigest, err := r.storeInput(ctx, run)
	if errors.Is(err, store.ErrNotFound) {
		r.reject(s, aiasv1alpha1.RunFailed, aiasv1alpha1.RunReasonInputNotFound, "spec.inputRef.digest: no input with this digest is stored for namespace "+run.Namespace)
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	run.Status.SpecDigest, run.Status.InputDigest = digest, inputDigest
	all, _ := spec.RunSteps()
	run.Status.Steps = make([]aiasv1alpha1.StepStatus, len(all.Steps))
	for i, st := range all.Steps {
		run.Status.Steps[i] = aiasv1alpha1.StepStatus{Name: st.Name, Phase: aiasv1alpha1.StepPending}
	}
	run.Status.StepsSummary = runengine.Summary(run.Status.Steps)
	return spec, 0, nil
}

// boundStepTimeouts gives every step without a timeout the plan's maxStepTimeout.
// Admission refuses a Workflow whose steps ask for more than the plan allows, but a step
// that names no timeout would otherwise run unbounded on any plan. The bound is part of
// the frozen spec, so it holds for the whole Run even if the plan changes meanwhile.
func boundStepTimeouts(tp *entitlements.Entitlement, spec *aiasv1alpha1.WorkflowSpec) {
	bound := tp.Limits().MaxStepTimeout
	if bound == nil {
		return
	}
	for _, steps := range [][]aiasv1alpha1.WorkflowStep{spec.Steps, spec.Finally} {
		for i := range steps {
			if steps[i].Timeout == nil {
				steps[i].Timeout = bound.DeepCopy()
			}
		}
	}
}

// storeInput puts inline input into the store's inputs of the Run's namespace (by
// digest) and checks that a referenced input is stored for that namespace: a digest
// another namespace stored resolves to nothing.
func (r *RunReconciler) storeInput(ctx context.Context, run *aiasv1alpha1.Run) (string, error) {
	switch {
	case run.Spec.Input != nil:
		content := []byte(*run.Spec.Input)
		contentType := "application/octet-stream"
		if json.Valid(content) {
			contentType = "application/json"
		}
		return r.Store.PutInput(ctx, run.Namespace, content, contentType)
	case run.Spec.InputRef != nil:
		if _, _, err := r.Store.GetInput(ctx, run.Namespace, run.Spec.InputRef.Digest); err != nil {
			return "", err
		}
		return run.Spec.InputRef.Digest, nil
	default:
		return "", nil
	}
}

// reject ends a Run that never started.
func (r *RunReconciler) reject(s *runScope, phase aiasv1alpha1.RunPhase, reason, message string) {
	run := s.run
	run.Status.Phase = phase
	run.Status.Message = message
	now := metav1.NewTime(r.Now())
	run.Status.CompletionTime = &now
	setRunEnded(run, runengine.Finish{Phase: phase, Reason: reason, Message: message})
	s.event(corev1.EventTypeWarning, reason, "%s", message)
	s.count(func() { runsFinished.WithLabelValues(string(phase)).Inc() })
}

// frozenSpec is the frozen Workflow spec of digest: from the cache, else loaded from the
// store (and cached as loaded, not stored: a new Run naming it stores it again).
func (r *RunReconciler) frozenSpec(ctx context.Context, digest string) (*aiasv1alpha1.WorkflowSpec, error) {
	if spec := r.specs.get(digest); spec != nil {
		return spec, nil
	}
	raw, err := r.Store.WorkflowSpec(ctx, digest)
	if err != nil {
		return nil, fmt.Errorf("loading the frozen workflow spec %s: %w", digest, err)
	}
	spec := &aiasv1alpha1.WorkflowSpec{}
	if err := json.Unmarshal(raw, spec); err != nil {
		return nil, fmt.Errorf("decoding the frozen workflow spec %s: %w", digest, err)
	}
	r.specs.put(digest, spec, time.Time{})
	return spec, nil
}
