package controllers

import (
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/testrig/nodeagent"
	"github.com/aias-dev/aias/webhookserver/stepapi"
)

// startStepRuntime runs a real internal API and a node agent apart from the Run
// controller's manager, so that restarting the manager leaves step processes running,
// as a manager restart in a real cluster leaves pods running. Call before h.start.
func (h *rtHarness) startStepRuntime() *nodeagent.Agent {
	h.t.Helper()
	api := httptest.NewServer((&stepapi.Server{Store: testStore, Tokens: h.tokens, MaxArtifactBytes: 16 << 20, MaxLogBatch: 1000}).Handler())
	h.t.Cleanup(api.Close)
	h.apiURL = api.URL
	return h.startNodeAgent()
}

// runWatch follows the namespace's Runs in apiserver order and keeps what the tests
// assert on: how many were Running at once, and the order in which they started.
type runWatch struct {
	mu         sync.Mutex
	phase      map[string]aiasv1alpha1.RunPhase
	maxRunning int
	started    []string
}

func (h *rtHarness) watchRuns() *runWatch {
	h.t.Helper()
	wc, err := client.NewWithWatch(testEnv.Config, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		h.t.Fatal(err)
	}
	w, err := wc.Watch(h.ctx, &aiasv1alpha1.RunList{}, client.InNamespace(h.ns))
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(w.Stop)
	rw := &runWatch{phase: map[string]aiasv1alpha1.RunPhase{}}
	go func() {
		for ev := range w.ResultChan() {
			run, ok := ev.Object.(*aiasv1alpha1.Run)
			if !ok || ev.Type == watch.Deleted {
				continue
			}
			rw.mu.Lock()
			if rw.phase[run.Name] != aiasv1alpha1.RunRunning && run.Status.Phase == aiasv1alpha1.RunRunning {
				rw.started = append(rw.started, run.Name)
			}
			rw.phase[run.Name] = run.Status.Phase
			running := 0
			for _, p := range rw.phase {
				if p == aiasv1alpha1.RunRunning {
					running++
				}
			}
			rw.maxRunning = max(rw.maxRunning, running)
			rw.mu.Unlock()
		}
	}()
	return rw
}

func (rw *runWatch) snapshot() (maxRunning int, started []string) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	return rw.maxRunning, append([]string(nil), rw.started...)
}

// createRuns creates n Runs of a Workflow at once from several goroutines.
func (h *rtHarness) createRuns(prefix, workflow string, n int) []string {
	h.t.Helper()
	names := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		names[i] = fmt.Sprintf("%s-%02d", prefix, i)
		wg.Go(func() {
			run := &aiasv1alpha1.Run{Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: workflow}, Input: ptr.To(fmt.Sprintf(`{"i":%d}`, i))}}
			run.Name, run.Namespace = names[i], h.ns
			if err := h.c.Create(h.ctx, run); err != nil {
				h.t.Error(err)
			}
		})
	}
	wg.Wait()
	return names
}

// creationOrder is the FIFO order the queue promises: creation time, then name.
func (h *rtHarness) creationOrder(names []string) []string {
	runs := make([]aiasv1alpha1.Run, len(names))
	for i, n := range names {
		runs[i] = *h.get(n)
	}
	sort.Slice(runs, func(i, j int) bool { return createdBefore(&runs[i], &runs[j]) })
	order := make([]string, len(runs))
	for i := range runs {
		order[i] = runs[i].Name
	}
	return order
}

func quickStep(name string) aiasv1alpha1.WorkflowStep {
	s := step(name)
	s.Command = []string{"sh", "-c", "sleep 0.2; echo '{\"step\":\"" + name + "\"}'"}
	return s
}

// Twenty Runs created at once under Queue max 2: never more than two run, every one
// succeeds, and they start in creation order. Under Forbid max 1, one runs and the
// others are rejected.
func TestRunConcurrencyTwentyAtOnce(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()
	rw := h.watchRuns()

	h.workflow("queue", aiasv1alpha1.WorkflowSpec{Concurrency: &aiasv1alpha1.ConcurrencyPolicy{Policy: aiasv1alpha1.ConcurrencyQueue, Max: ptr.To[int32](2)},
		Steps: []aiasv1alpha1.WorkflowStep{quickStep("a")}})
	names := h.createRuns("q", "queue", 20)
	for _, n := range names {
		h.waitPhaseWithin(n, aiasv1alpha1.RunSucceeded, 120*time.Second)
	}
	maxRunning, started := rw.snapshot()
	if maxRunning > 2 {
		t.Errorf("%d Runs were Running at once under Queue max 2", maxRunning)
	}
	if want := h.creationOrder(names); strings.Join(started, ",") != strings.Join(want, ",") {
		t.Errorf("start order\n got %v\nwant %v", started, want)
	}

	rw2 := h.watchRuns()
	slow := step("a")
	slow.Command = []string{"sleep", "3"}
	h.workflow("forbid", aiasv1alpha1.WorkflowSpec{Concurrency: &aiasv1alpha1.ConcurrencyPolicy{Policy: aiasv1alpha1.ConcurrencyForbid},
		Steps: []aiasv1alpha1.WorkflowStep{slow}})
	names = h.createRuns("f", "forbid", 20)
	succeeded, rejected := 0, 0
	for _, n := range names {
		h.eventually(60*time.Second, n+" to finish", func() (bool, string) {
			p := h.get(n).Status.Phase
			return p.Finished(), string(p)
		})
		switch h.get(n).Status.Phase {
		case aiasv1alpha1.RunSucceeded:
			succeeded++
		case aiasv1alpha1.RunRejected:
			rejected++
		}
	}
	if succeeded != 1 || rejected != 19 {
		t.Errorf("Forbid: %d succeeded, %d rejected; want 1 and 19", succeeded, rejected)
	}
	if forbidMax, _ := rw2.snapshot(); forbidMax > 1 {
		t.Errorf("%d Runs were Running at once under Forbid", forbidMax)
	}
}

// Twenty three-step Runs while the Run controller's manager is restarted at random
// moments: every Run completes, no step ever needs a second attempt (so no attempt ran
// twice), every step has its one Job and its result, nothing is lost.
func TestRunSurvivesManagerRestarts(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()
	h.workflow("chain", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{quickStep("a"), quickStep("b"), quickStep("c")}})
	names := h.createRuns("r", "chain", 20)

	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	deadline := time.Now().Add(90 * time.Second)
	restarts := 0
	for time.Now().Before(deadline) {
		time.Sleep(time.Duration(50+rng.IntN(600)) * time.Millisecond)
		h.stop()
		h.stop = nil
		restarts++
		h.start()
		if restarts >= 8 {
			break
		}
	}
	for _, n := range names {
		run := h.waitPhaseWithin(n, aiasv1alpha1.RunSucceeded, 120*time.Second)
		for _, s := range run.Status.Steps {
			if s.Attempts != 1 || s.Phase != aiasv1alpha1.StepSucceeded || s.OutputDigest == "" {
				t.Errorf("%s step %+v", n, s)
			}
		}
		if len(run.Status.Artifacts) != 3 {
			t.Errorf("%s artifacts %+v", n, run.Status.Artifacts)
		}
		var jobs batchv1.JobList
		if err := h.c.List(h.ctx, &jobs, client.InNamespace(h.ns), client.MatchingLabels{aiasv1alpha1.LabelRunUID: string(run.UID)}); err != nil {
			t.Fatal(err)
		}
		if len(jobs.Items) != 3 {
			t.Errorf("%s has %d Jobs, want 3", n, len(jobs.Items))
		}
		// One Pod per attempt, each its Job's: no attempt ran twice.
		var pods corev1.PodList
		if err := h.c.List(h.ctx, &pods, client.InNamespace(h.ns), client.MatchingLabels{aiasv1alpha1.LabelRunUID: string(run.UID)}); err != nil {
			t.Fatal(err)
		}
		owners := map[types.UID]int{}
		for _, p := range pods.Items {
			if ref := metav1.GetControllerOf(&p); ref != nil {
				owners[ref.UID]++
			}
		}
		for _, j := range jobs.Items {
			if owners[j.UID] != 1 {
				t.Errorf("%s: Job %s has %d Pods, want 1", n, j.Name, owners[j.UID])
			}
		}
		if len(pods.Items) != 3 {
			t.Errorf("%s has %d Pods, want 3", n, len(pods.Items))
		}
	}
	t.Logf("%d restarts of the Run controller's manager", restarts)
}

// 200 Runs start at once against a plan of 100 runs per period: exactly 100 are counted
// and start, the other 100 are Rejected with QuotaExceeded.
func TestRunQuotaRaceTwoHundred(t *testing.T) {
	h := newRunHarness(t)
	tenant, _ := h.tenantOnPlan("hundred", aiasv1alpha1.PlanLimits{RunsPerMonth: ptr.To[int64](100)})
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("s")}})
	names := h.createRuns("q", "w", 200)
	running, rejected := 0, 0
	h.eventually(120*time.Second, "every Run to start or be refused", func() (bool, string) {
		var list aiasv1alpha1.RunList
		if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
			return false, err.Error()
		}
		running, rejected = 0, 0
		for _, r := range list.Items {
			switch r.Status.Phase {
			case aiasv1alpha1.RunRunning:
				running++
			case aiasv1alpha1.RunRejected:
				rejected++
			}
		}
		return running+rejected == len(names), fmt.Sprintf("%d running, %d rejected", running, rejected)
	})
	if running != 100 || rejected != 100 {
		t.Errorf("%d running and %d rejected, want 100 and 100", running, rejected)
	}
	period := periodStart(tenant, time.Now())
	if n, err := testStore.TenantRuns(h.ctx, string(tenant.UID), period); err != nil || n != 100 {
		t.Errorf("store counts %d runs (%v), want 100", n, err)
	}
}
