package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"k8s.io/client-go/tools/events"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/runengine"
)

// runScope is what one reconcile of a Run holds (cluster-api's machine scope): the Run
// being worked on, the spec it froze, and what waits for the status write. It lives as
// long as the reconcile; the reconciler itself keeps only what outlives one (the spec
// cache, the run index it wrote, the Pods it created or saw).
type runScope struct {
	run *aiasv1alpha1.Run
	// spec is the Workflow spec the Run froze, its finally steps after its steps
	// (WorkflowSpec.RunSteps), as the Run's status lists them; nil until freeze found it.
	spec *aiasv1alpha1.WorkflowSpec
	// mainSteps is how many of spec.Steps are the Workflow's steps, not finally steps.
	mainSteps int
	// tokenReady: the Run's token Secret exists (it is made before the first attempt).
	tokenReady bool
	// values are what the Run's expressions read (parameters, input, the step results
	// looked up so far); nil until a step needs them.
	values *runengine.Values
	// original is the Run this one resumes (spec.resumeOf), once read.
	original *aiasv1alpha1.Run
	// plan is the tenant's plan (nil: none), once read (planRead): a reconcile that starts
	// many attempts (a fan-out's items) checks each against it.
	plan     *entitlements.Entitlement
	planRead bool

	recorder events.EventRecorder
	// outbox is what the reconcile tells users (events) and Prometheus (counts): sent
	// once the status write that explains it lands, dropped when it does not (a
	// reconcile working from a stale cache loses the write to the optimistic lock and
	// must not announce a second time what the first one did).
	outbox []func()
}

func newRunScope(run *aiasv1alpha1.Run, recorder events.EventRecorder) *runScope {
	return &runScope{run: run, recorder: recorder}
}

// event queues what a user should see in `kubectl describe run`. The events API folds
// events with the same reason and action into one series that keeps the first note, so
// the action carries a digest of the note: "Step b started" must not read "Step a
// started (x2)".
func (s *runScope) event(eventType, reason, format string, args ...any) {
	if s.recorder == nil {
		return
	}
	note := fmt.Sprintf(format, args...)
	sum := sha256.Sum256([]byte(note))
	action := reason + "/" + hex.EncodeToString(sum[:4])
	run, recorder := s.run, s.recorder
	s.outbox = append(s.outbox, func() { recorder.Eventf(run, nil, eventType, reason, action, "%s", note) })
}

// events queues the engine's events.
func (s *runScope) events(evs []runengine.Event) {
	for _, e := range evs {
		s.event(e.Type, e.Reason, "%s", e.Message)
	}
}

// count queues a metric observation, sent with the events.
func (s *runScope) count(observe func()) { s.outbox = append(s.outbox, observe) }

// flush sends what the reconcile queued.
func (s *runScope) flush() {
	for _, send := range s.outbox {
		send()
	}
	s.outbox = nil
}

// drop forgets what the reconcile queued: the status write that explains it failed.
func (s *runScope) drop() { s.outbox = nil }
