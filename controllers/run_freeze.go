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
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/lru"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/params"
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

func (c *specCache) cache() *lru.Cache {
	c.once.Do(func() { c.c = lru.New(maxCachedSpecs) })
	return c.c
}

func (c *specCache) get(digest string) *aiasv1alpha1.WorkflowSpec {
	if v, ok := c.cache().Get(digest); ok {
		return v.(*aiasv1alpha1.WorkflowSpec)
	}
	return nil
}

func (c *specCache) put(digest string, spec *aiasv1alpha1.WorkflowSpec) { c.cache().Add(digest, spec) }

// len is how many specs are cached.
func (c *specCache) len() int { return c.cache().Len() }

// freeze returns the Workflow spec the Run runs with. On first sight it resolves the
// Workflow, stores the spec and the input in the store (record first, then point to it
// from status: a crash in between leaves an unreferenced row, never a dangling digest)
// and indexes the Run. A nil spec without error means the Run cannot go on: it was
// rejected, or it waits (wait > 0) for its Workflow.
func (r *RunReconciler) freeze(ctx context.Context, run *aiasv1alpha1.Run, tp *entitlements.Entitlement) (*aiasv1alpha1.WorkflowSpec, time.Duration, error) {
	if d := run.Status.SpecDigest; d != "" {
		if spec := r.specs.get(d); spec != nil {
			return spec, 0, nil
		}
		raw, err := r.Store.WorkflowSpec(ctx, d)
		if err != nil {
			return nil, 0, fmt.Errorf("loading the frozen workflow spec %s: %w", d, err)
		}
		spec := &aiasv1alpha1.WorkflowSpec{}
		if err := json.Unmarshal(raw, spec); err != nil {
			return nil, 0, fmt.Errorf("decoding the frozen workflow spec %s: %w", d, err)
		}
		r.specs.put(d, spec)
		return spec, 0, nil
	}

	wf := &aiasv1alpha1.Workflow{}
	err := r.Get(ctx, clientKey(run.Namespace, run.Spec.WorkflowRef.Name), wf)
	if apierrors.IsNotFound(err) {
		// A Workflow applied together with the Run may reach the cache a moment later:
		// wait out a short grace period, then fail with a reason that names what is missing.
		msg := fmt.Sprintf("workflow %q does not exist in namespace %s", run.Spec.WorkflowRef.Name, run.Namespace)
		if wait := run.CreationTimestamp.Add(r.WorkflowGrace).Sub(r.Now()); wait > 0 {
			setReady(run, metav1.ConditionUnknown, "WorkflowNotFound", msg+"; waiting briefly for it")
			run.Status.Message = readyMessage(run)
			return nil, wait, nil
		}
		r.reject(run, aiasv1alpha1.RunFailed, "WorkflowNotFound", msg)
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}

	inputDigest, err := r.storeInput(ctx, run)
	if errors.Is(err, store.ErrNotFound) {
		r.reject(run, aiasv1alpha1.RunFailed, "InputNotFound", fmt.Sprintf("spec.inputRef.digest %s is not in the store", run.Spec.InputRef.Digest))
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	values, err := params.Resolve(wf.Spec.Params, run.Spec.Params)
	if err != nil {
		r.reject(run, aiasv1alpha1.RunRejected, "InvalidParams", fmt.Sprintf("spec.params: %v (workflow %s)", err, wf.Name))
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
	if r.specs.get(digest) == nil { // every Run of a Workflow shares its spec: store it once
		if _, err := r.Store.PutWorkflowSpec(ctx, raw); err != nil {
			return nil, 0, fmt.Errorf("storing the workflow spec: %w", err)
		}
	}
	spec := resolved
	r.specs.put(digest, spec)
	run.Status.SpecDigest, run.Status.InputDigest = digest, inputDigest
	run.Status.Steps = make([]aiasv1alpha1.StepStatus, len(spec.Steps))
	for i, s := range spec.Steps {
		run.Status.Steps[i] = aiasv1alpha1.StepStatus{Name: s.Name, Phase: aiasv1alpha1.StepPending}
	}
	run.Status.StepsSummary = stepsSummary(run)
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
	for i := range spec.Steps {
		if spec.Steps[i].Timeout == nil {
			spec.Steps[i].Timeout = bound.DeepCopy()
		}
	}
}

// storeInput puts inline input into the store's inputs table (by digest) and checks that
// a referenced input is there.
func (r *RunReconciler) storeInput(ctx context.Context, run *aiasv1alpha1.Run) (string, error) {
	switch {
	case run.Spec.Input != nil:
		content := []byte(*run.Spec.Input)
		contentType := "application/octet-stream"
		if json.Valid(content) {
			contentType = "application/json"
		}
		return r.Store.PutInput(ctx, content, contentType)
	case run.Spec.InputRef != nil:
		if _, _, err := r.Store.GetInput(ctx, run.Spec.InputRef.Digest); err != nil {
			return "", err
		}
		return run.Spec.InputRef.Digest, nil
	default:
		return "", nil
	}
}

// reject ends a Run that never started.
func (r *RunReconciler) reject(run *aiasv1alpha1.Run, phase aiasv1alpha1.RunPhase, reason, message string) {
	run.Status.Phase = phase
	run.Status.Message = message
	now := metav1.NewTime(r.Now())
	run.Status.CompletionTime = &now
	setReady(run, metav1.ConditionFalse, reason, message)
	r.event(run, corev1.EventTypeWarning, reason, "%s", message)
	r.count(run, func() { runsFinished.WithLabelValues(string(phase)).Inc() })
}

// setReady sets the Ready condition and reports whether it changed.
func setReady(run *aiasv1alpha1.Run, status metav1.ConditionStatus, reason, message string) bool {
	return meta.SetStatusCondition(&run.Status.Conditions, metav1.Condition{
		Type: "Ready", Status: status, Reason: reason, Message: message, ObservedGeneration: run.Generation,
	})
}

func readyMessage(run *aiasv1alpha1.Run) string {
	if c := meta.FindStatusCondition(run.Status.Conditions, "Ready"); c != nil {
		return c.Message
	}
	return ""
}
