package controllers

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// staleRunReader answers reads of one Run with an old copy, as an informer that lags
// behind the apiserver does; everything else reads through.
type staleRunReader struct {
	client.Client
	stale *aiasv1alpha1.Run
}

func (c staleRunReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if run, ok := obj.(*aiasv1alpha1.Run); ok && key == client.ObjectKeyFromObject(c.stale) {
		c.stale.DeepCopyInto(run)
		return nil
	}
	return c.Client.Get(ctx, key, obj, opts...)
}

// A reconcile that reads a Run from a stale cache (still Running, its Job done) must not
// finish it a second time: its status write loses the optimistic lock, and neither the
// final event nor the finished count is sent again.
func TestRunFinishFromStaleCacheAnnouncedOnce(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("x", "w", "")
	h.waitJobs("x", "x-a-1")
	var stale *aiasv1alpha1.Run
	h.eventually(10*time.Second, "the attempt in status", func() (bool, string) {
		stale = h.get("x")
		return len(stale.Status.Steps) == 1 && stale.Status.Steps[0].Phase == aiasv1alpha1.StepRunning, stepPhases(stale)
	})
	h.finishJob("x", "x-a-1", 0, `{"ok":true}`)
	done := h.waitPhase("x", aiasv1alpha1.RunSucceeded)
	h.eventually(10*time.Second, "one Succeeded event", func() (bool, string) {
		n := 0
		for _, r := range h.eventReasons("x") {
			if r == string(aiasv1alpha1.RunSucceeded) {
				n++
			}
		}
		return n == 1, "reasons " + joinReasons(h.eventReasons("x"))
	})
	h.stop()
	h.stop = nil

	// A second reconciler whose cache has the Job's end but not the Run's.
	var cached client.Client
	startTestManager(t, nil, func(ctx context.Context, mgr manager.Manager) error {
		cached = mgr.GetClient()
		return SetupIndexes(ctx, mgr)
	})
	recorder := events.NewFakeRecorder(10)
	r := &RunReconciler{
		Client: staleRunReader{Client: cached, stale: stale}, APIReader: testEnv.Client, Scheme: testEnv.Client.Scheme(),
		Recorder: recorder, Store: testStore, Tokens: h.tokens, RunnerImage: "aias-runner:test", InternalAPIURL: h.apiURL,
		Now: time.Now,
	}
	finishedBefore := counterValue(runsFinished.WithLabelValues(string(aiasv1alpha1.RunSucceeded)))
	res, err := r.Reconcile(h.ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(stale)})
	if err != nil {
		t.Fatalf("reconcile from the stale cache: %v", err)
	}
	if res.RequeueAfter == 0 {
		t.Errorf("result %+v, want a requeue after the conflict", res)
	}
	select {
	case e := <-recorder.Events:
		t.Errorf("the stale reconcile sent an event: %s", e)
	default:
	}
	if after := counterValue(runsFinished.WithLabelValues(string(aiasv1alpha1.RunSucceeded))); after != finishedBefore {
		t.Errorf("aias_runs_finished_total{phase=Succeeded} went from %v to %v", finishedBefore, after)
	}
	now := h.get("x")
	if now.ResourceVersion != done.ResourceVersion || !now.Status.CompletionTime.Equal(done.Status.CompletionTime) {
		t.Errorf("the finished Run was written again: resourceVersion %s → %s, completion %v → %v",
			done.ResourceVersion, now.ResourceVersion, done.Status.CompletionTime, now.Status.CompletionTime)
	}
}

func joinReasons(r []string) string {
	out := ""
	for i, s := range r {
		if i > 0 {
			out += ","
		}
		out += s
	}
	return out
}

func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return -1
	}
	return m.GetCounter().GetValue()
}
