package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/devkubelet"
	"github.com/aias-dev/aias/internal/manager"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testenv"
)

// The run engine (issue 4): how fast Runs reach Succeeded when steps cost nothing, how
// many apiserver writes each Run takes, and what the raw create ceiling of the same
// control plane is; then the manager's memory with 10,000 finished Runs (rss.go).
const (
	engineCreators = 16
	phaseTimeout   = 5 * time.Minute
)

// engineRuns Runs per phase (-runs; the figure is 1000).
var engineRuns = 1000

// cluster is a control plane with the clients the bench drives it with.
type cluster struct {
	env *testenv.Env
	// cfg is the admin config without client-side rate limiting, as ctrl.GetConfig
	// gives the real manager (QPS -1): the apiserver is what is measured.
	cfg     *rest.Config
	c       crclient.Client
	metrics rest.Interface // GETs kube-apiserver's /metrics
}

func newCluster(env *testenv.Env) (*cluster, error) {
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := crclient.New(cfg, crclient.Options{Scheme: manager.NewScheme()})
	if err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &cluster{env: env, cfg: cfg, c: c, metrics: cs.Discovery().RESTClient()}, nil
}

// phaseResult is one workflow shape's run.
type phaseResult struct {
	steps int
	wall  time.Duration
	rate  float64   // Runs/s to Succeeded
	delta reqCounts // apiserver requests during the phase, settled
	run   *aiasv1alpha1.Run
	job   *batchv1.Job
}

func (p phaseResult) perRun(by string) float64 {
	return p.delta.writes(func(k reqKey) bool { return k.by() == by }) / float64(engineRuns)
}

func (p phaseResult) allIn() float64 {
	return p.delta.writes(notExcluded) / float64(engineRuns)
}

func engineSection(ctx context.Context, st *store.Store, bin string) (string, error) {
	tmp, err := os.MkdirTemp("", "aias-bench-engine-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	keyFile := filepath.Join(tmp, "step-token.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return "", err
	}
	dbURL := st.Pool().Config().ConnString()

	env, err := testenv.Start()
	if err != nil {
		return "", err
	}
	stopped := false
	stopEnv := func() {
		if !stopped {
			stopped = true
			_ = env.Stop()
		}
	}
	defer stopEnv()
	cl, err := newCluster(env)
	if err != nil {
		return "", err
	}

	// The ceiling while no controller runs: the same Runs, the same creators, before
	// and after the Run phases (the machine's load drifts); the higher one counts.
	var ceilings [2]float64
	if ceilings[0], err = cl.rawCeiling(ctx, "bench-ceiling-before"); err != nil {
		return "", fmt.Errorf("raw create ceiling: %w", err)
	}
	logf("raw Run create before the Run phases: %.0f creates/s", ceilings[0])
	phases, err := cl.enginePhases(ctx, dbURL, keyFile)
	if err != nil {
		return "", err
	}
	if ceilings[1], err = cl.rawCeiling(ctx, "bench-ceiling-after"); err != nil {
		return "", fmt.Errorf("raw create ceiling: %w", err)
	}
	logf("raw Run create after the Run phases: %.0f creates/s", ceilings[1])
	stopEnv()

	rss, err := managerRSS(ctx, bin, dbURL, keyFile, tmp, phases[0].run, phases[0].job)
	if err != nil {
		return "", fmt.Errorf("manager RSS: %w", err)
	}
	return engineMarkdown(ceilings, phases, rss), nil
}

// enginePhases runs the real manager wiring (manager.Run, as `aias manager` and
// `aias dev` do) with the instant dev kubelet, and measures each workflow shape.
func (cl *cluster) enginePhases(ctx context.Context, dbURL, keyFile string) ([]phaseResult, error) {
	namespaces := []string{"bench-warmup", "bench-1-step", "bench-5-step"}
	for _, ns := range namespaces {
		if err := cl.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			return nil, err
		}
	}
	opts, err := manager.ParseFlags([]string{
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--zap-log-level=error",
		"--database-url=" + dbURL, "--step-token-key-file=" + keyFile,
		"--runner-image=example.invalid/aias:bench", "--internal-api-url=http://aias-internal.invalid:8082",
	})
	if err != nil {
		return nil, err
	}
	workRoot, err := os.MkdirTemp("", "aias-bench-pods-") // Instant runs no process, but the kubelet wants a root
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(workRoot)
	kubelet := &devkubelet.Kubelet{Instant: true, Namespaces: namespaces, WorkRoot: workRoot}
	opts.Extra = []func(ctrl.Manager) error{kubelet.SetupWithManager}
	mctx, cancel := context.WithCancel(ctx)
	exited := goExit(func() error { return manager.Run(mctx, cl.cfg, opts) })
	defer func() {
		cancel()
		<-exited.done
		kubelet.Stop()
	}()

	// Warm up: caches synced, store connections open, one Run through end to end.
	if _, err := cl.phase(ctx, exited, "bench-warmup", 1, 1); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	var phases []phaseResult
	for _, p := range []struct {
		ns    string
		steps int
	}{{"bench-1-step", 1}, {"bench-5-step", 5}} {
		res, err := cl.phase(ctx, exited, p.ns, p.steps, engineRuns)
		if err != nil {
			return nil, fmt.Errorf("%d-step phase: %w", p.steps, err)
		}
		logf("%d-step: %d Runs Succeeded in %v: %.1f Runs/s; writes per Run: %.2f all-in, %.2f AIAS controllers",
			p.steps, engineRuns, res.wall.Round(time.Millisecond), res.rate, res.allIn(), res.perRun(byAIAS))
		logBreakdown(res)
		phases = append(phases, res)
	}
	return phases, nil
}

// phase creates a Workflow of steps linear steps and n Runs of it, and measures the time
// from the first create until all n are Succeeded, and the apiserver requests.
func (cl *cluster) phase(ctx context.Context, exited *exit, ns string, steps, n int) (phaseResult, error) {
	res := phaseResult{steps: steps}
	wf := benchWorkflow(ns, "wf", steps)
	if err := cl.c.Create(ctx, wf); err != nil {
		return res, err
	}
	if err := waitFor(ctx, exited, time.Minute, "the Workflow to be Ready", func() (bool, error) {
		err := cl.c.Get(ctx, crclient.ObjectKeyFromObject(wf), wf)
		return err == nil && wf.Status.ObservedGeneration == wf.Generation && len(wf.Status.Conditions) > 0, err
	}); err != nil {
		return res, err
	}
	w, err := watchRuns(ctx, cl.cfg, ns, n)
	if err != nil {
		return res, err
	}
	defer w.stop()
	before, err := cl.settled(ctx)
	if err != nil {
		return res, err
	}

	start := time.Now()
	if err := parallel(n, engineCreators, func(i int) error { return cl.c.Create(ctx, benchRun(ns, "wf", i)) }); err != nil {
		return res, fmt.Errorf("creating Runs: %w", err)
	}
	select {
	case <-w.done:
	case <-exited.done:
		return res, fmt.Errorf("manager exited: %v", exited.err)
	case <-time.After(phaseTimeout):
		return res, fmt.Errorf("%d of %d Runs Succeeded after %v", w.succeeded.Load(), n, phaseTimeout)
	}
	if msg := w.failure(); msg != "" {
		return res, errors.New(msg)
	}
	res.wall = w.last.Sub(start)
	res.rate = float64(n) / res.wall.Seconds()

	after, err := cl.settled(ctx)
	if err != nil {
		return res, err
	}
	res.delta = after.minus(before)
	res.run = &aiasv1alpha1.Run{}
	if err := cl.c.Get(ctx, crclient.ObjectKey{Namespace: ns, Name: benchRun(ns, "wf", 0).Name}, res.run); err != nil {
		return res, err
	}
	var jobs batchv1.JobList
	if err := cl.c.List(ctx, &jobs, crclient.InNamespace(ns), crclient.Limit(1)); err != nil || len(jobs.Items) == 0 {
		return res, fmt.Errorf("reading a step Job: %v (%d found)", err, len(jobs.Items))
	}
	res.job = &jobs.Items[0]
	return res, nil
}

// settled scrapes the apiserver's request counters once the writes caused by Runs have
// stopped: asynchronous ones (events, the coalesced Workflow summary) are part of the
// phase. Quiet means no such write for two seconds.
func (cl *cluster) settled(ctx context.Context) (reqCounts, error) {
	prev, err := scrapeRequests(ctx, cl.metrics)
	if err != nil {
		return nil, err
	}
	for range 15 {
		time.Sleep(2 * time.Second)
		cur, err := scrapeRequests(ctx, cl.metrics)
		if err != nil {
			return nil, err
		}
		if cur.minus(prev).writes(notExcluded) == 0 {
			return cur, nil
		}
		prev = cur
	}
	return nil, errors.New("apiserver writes did not settle within 30 s")
}

// rawCeiling creates engineRuns Runs of the benchmark's shape with the same creators
// while no controller runs, then deletes them so the manager never sees them.
func (cl *cluster) rawCeiling(ctx context.Context, ns string) (float64, error) {
	if err := cl.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return 0, err
	}
	// Untimed warm-up: the first requests on a fresh apiserver (the CRD's handler,
	// connections) are slow and are no part of a ceiling.
	if err := parallel(4*engineCreators, engineCreators, func(i int) error {
		run := benchRun(ns, "wf", i)
		run.Name = fmt.Sprintf("warm-%05d", i)
		return cl.c.Create(ctx, run)
	}); err != nil {
		return 0, err
	}
	before, err := scrapeRequests(ctx, cl.metrics)
	if err != nil {
		return 0, err
	}
	start := time.Now()
	if err := parallel(engineRuns, engineCreators, func(i int) error { return cl.c.Create(ctx, benchRun(ns, "wf", i)) }); err != nil {
		return 0, err
	}
	rate := float64(engineRuns) / time.Since(start).Seconds()
	after, err := scrapeRequests(ctx, cl.metrics)
	if err != nil {
		return 0, err
	}
	// The counters must see exactly the creates, or the write counts below mean nothing.
	if got := after.minus(before).writes(func(k reqKey) bool { return k.by() == byBench }); got != float64(engineRuns) {
		return 0, fmt.Errorf("apiserver_request_total counted %.0f Run creates, want %d", got, engineRuns)
	}
	if err := cl.c.DeleteAllOf(ctx, &aiasv1alpha1.Run{}, crclient.InNamespace(ns)); err != nil {
		return 0, err
	}
	err = waitFor(ctx, nil, time.Minute, "the ceiling's Runs to be deleted", func() (bool, error) {
		var runs aiasv1alpha1.RunList
		err := cl.c.List(ctx, &runs, crclient.InNamespace(ns), crclient.Limit(1))
		return err == nil && len(runs.Items) == 0, err
	})
	return rate, err
}

// benchRun is the Run every phase creates: what a webhook delivery makes.
func benchRun(ns, workflow string, i int) *aiasv1alpha1.Run {
	input := fmt.Sprintf(`{"event":"push","n":%d}`, i)
	return &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("run-%05d", i), Namespace: ns},
		Spec: aiasv1alpha1.RunSpec{
			WorkflowRef: aiasv1alpha1.WorkflowReference{Name: workflow},
			Input:       &input,
			Trigger:     &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerWebhook, Endpoint: "bench", DeliveryID: fmt.Sprintf("delivery-%05d", i)},
		},
	}
}

// benchWorkflow is a linear chain of steps (dependsOn absent: the previous step) under
// the Allow concurrency policy.
func benchWorkflow(ns, name string, steps int) *aiasv1alpha1.Workflow {
	wf := &aiasv1alpha1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: aiasv1alpha1.WorkflowSpec{
			Concurrency: &aiasv1alpha1.ConcurrencyPolicy{Policy: aiasv1alpha1.ConcurrencyAllow},
		},
	}
	for i := range steps {
		wf.Spec.Steps = append(wf.Spec.Steps, aiasv1alpha1.WorkflowStep{
			Name: fmt.Sprintf("s%d", i+1), Image: "example.invalid/step", Command: []string{"true"},
		})
	}
	return wf
}

// runWatch follows a namespace's Runs through an informer (one watch, as a UI would)
// and notes when n of them have Succeeded.
type runWatch struct {
	n         int64
	succeeded atomic.Int64
	seen      sync.Map
	done      chan struct{}
	closeOnce sync.Once
	last      time.Time // when the n-th Run was seen Succeeded; read after done
	mu        sync.Mutex
	failed    []string
	stop      context.CancelFunc
}

func watchRuns(ctx context.Context, cfg *rest.Config, ns string, n int) (*runWatch, error) {
	ca, err := cache.New(cfg, cache.Options{Scheme: manager.NewScheme(), DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &runWatch{n: int64(n), done: make(chan struct{}), stop: cancel}
	inf, err := ca.GetInformer(wctx, &aiasv1alpha1.Run{})
	if err != nil {
		cancel()
		return nil, err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    w.see,
		UpdateFunc: func(_, o any) { w.see(o) },
	}); err != nil {
		cancel()
		return nil, err
	}
	go func() { _ = ca.Start(wctx) }()
	if !ca.WaitForCacheSync(wctx) {
		cancel()
		return nil, errors.New("run watch: cache did not sync")
	}
	return w, nil
}

func (w *runWatch) see(o any) {
	run, ok := o.(*aiasv1alpha1.Run)
	if !ok {
		return
	}
	switch run.Status.Phase {
	case aiasv1alpha1.RunSucceeded:
		if _, dup := w.seen.LoadOrStore(run.Name, true); !dup && w.succeeded.Add(1) == w.n {
			w.last = time.Now()
			w.closeOnce.Do(func() { close(w.done) })
		}
	case aiasv1alpha1.RunFailed, aiasv1alpha1.RunRejected, aiasv1alpha1.RunCanceled:
		w.mu.Lock()
		w.failed = append(w.failed, fmt.Sprintf("%s %s: %s", run.Name, run.Status.Phase, run.Status.Message))
		w.mu.Unlock()
		w.closeOnce.Do(func() { close(w.done) }) // a Run that cannot succeed ends the phase
	}
}

func (w *runWatch) failure() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.failed) == 0 {
		return ""
	}
	return fmt.Sprintf("%d Run(s) did not succeed, first: %s", len(w.failed), w.failed[0])
}

// parallel calls f for 0..n-1 from workers goroutines and returns the first error.
func parallel(n, workers int, f func(i int) error) error {
	work := make(chan int)
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for range workers {
		wg.Go(func() {
			for i := range work {
				if err := f(i); err != nil {
					once.Do(func() { first = err })
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return first
}

// exit is the end of something run in the background: done closes when it returns err.
type exit struct {
	done chan struct{}
	err  error
}

func goExit(f func() error) *exit {
	e := &exit{done: make(chan struct{})}
	go func() {
		e.err = f()
		close(e.done)
	}()
	return e
}

// waitFor polls cond every 100 ms until it holds, the timeout passes, or the manager
// (exited, may be nil) stops. cond's error is only reported at the timeout.
func waitFor(ctx context.Context, exited *exit, timeout time.Duration, what string, cond func() (bool, error)) error {
	deadline := time.Now().Add(timeout)
	var done <-chan struct{}
	if exited != nil {
		done = exited.done
	}
	for {
		ok, err := cond()
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v waiting for %s (last error: %v)", timeout, what, err)
		}
		select {
		case <-done:
			return fmt.Errorf("manager exited while waiting for %s: %v", what, exited.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func logf(format string, args ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...) }

// logBreakdown prints every write and read of a phase per Run, for whoever cuts writes.
func logBreakdown(p phaseResult) {
	for _, l := range p.delta.breakdown() {
		logf("  %-40s %-26s %7.3f per Run (%.0f, %.0f conflicts, %.0f other errors)", l.what, l.by, l.n/float64(engineRuns), l.n, l.conflicts, l.bad)
	}
	reads := p.delta.reads()
	for _, what := range slices.Sorted(maps.Keys(reads)) {
		logf("  read %-35s %7.3f per Run (%.0f)", what, reads[what]/float64(engineRuns), reads[what])
	}
}

// engineMarkdown is the "Run engine (issue 4)" section.
func engineMarkdown(ceilings [2]float64, phases []phaseResult, rss []rssResult) string {
	ceiling := max(ceilings[0], ceilings[1])
	var b strings.Builder
	b.WriteString("## Run engine (issue 4)\n\n| what | AIAS | ceiling | ratio |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| raw Run create, %d Runs (%d creators, no controller running) | — | %.0f creates/s (the higher of %.0f before and %.0f after the Run phases) | — |\n",
		engineRuns, engineCreators, ceiling, ceilings[0], ceilings[1])
	for _, p := range phases {
		allIn := p.allIn()
		bound := ceiling / allIn
		fmt.Fprintf(&b, "| Runs to Succeeded, %d-step Workflow, %d Runs (%d creators, instant dev kubelet) | %.1f Runs/s (%.1f s) | %.1f Runs/s (%.0f creates/s ÷ %.2f writes per Run, all-in) | **%.2f** (goal ≥ 0.5) |\n",
			p.steps, engineRuns, engineCreators, p.rate, p.wall.Seconds(), bound, ceiling, allIn, p.rate/bound)
		goal := "—"
		if p.steps == 1 {
			goal = "goal ≤ 8"
		}
		fmt.Fprintf(&b, "| apiserver writes per %d-step Run by the AIAS controllers | **%.2f** (all-in %.2f: + %.2f Run create + %.2f dev kubelet Job status) | — | %s |\n",
			p.steps, p.perRun(byAIAS), allIn, p.perRun(byBench), p.perRun(byKubelet), goal)
	}
	for _, r := range rss {
		if r.failed != "" {
			fmt.Fprintf(&b, "| manager RSS, %s | **did not start**: %s (peak VmHWM %.0f MiB) | — | goal < 300 MiB |\n",
				r.label, strings.ReplaceAll(r.failed, "|", "\\|"), float64(r.hwmKiB)/1024)
			continue
		}
		fmt.Fprintf(&b, "| manager RSS, %s | **%.0f MiB** VmRSS (VmHWM %.0f MiB; %.1f s to reconcile all) | — | goal < 300 MiB |\n",
			r.label, float64(r.rssKiB)/1024, float64(r.hwmKiB)/1024, r.took.Seconds())
	}

	b.WriteString("\napiserver writes per Run, by verb and resource (writes refused with 409, AlreadyExists or Conflict, are counted in the total and shown in brackets):\n\n| write | by |")
	for _, p := range phases {
		fmt.Fprintf(&b, " %d-step |", p.steps)
	}
	b.WriteString("\n| --- | --- |" + strings.Repeat(" ---: |", len(phases)) + "\n")
	type cell struct{ n, conflicts float64 }
	rows := map[string]map[int]cell{}
	by := map[string]string{}
	var order []string
	for i, p := range phases {
		for _, l := range p.delta.breakdown() {
			if l.by == byExcluded {
				continue
			}
			if rows[l.what] == nil {
				rows[l.what] = map[int]cell{}
				by[l.what] = l.by
				order = append(order, l.what)
			}
			rows[l.what][i] = cell{l.n, l.conflicts}
		}
	}
	rank := map[string]int{byBench: 0, byAIAS: 1, byKubelet: 2}
	slices.SortStableFunc(order, func(a, b string) int { return rank[by[a]] - rank[by[b]] })
	for _, what := range order {
		fmt.Fprintf(&b, "| %s | %s |", what, by[what])
		for i := range phases {
			c := rows[what][i]
			s := fmt.Sprintf(" %.2f", c.n/float64(engineRuns))
			if c.conflicts > 0 {
				s += fmt.Sprintf(" (%.2f refused with 409)", c.conflicts/float64(engineRuns))
			}
			b.WriteString(s + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("| **all-in** | |")
	for _, p := range phases {
		fmt.Fprintf(&b, " **%.2f** |", p.allIn())
	}
	b.WriteString("\n")
	var excluded []string
	for i, p := range phases {
		for _, l := range p.delta.breakdown() {
			if l.by == byExcluded {
				excluded = append(excluded, fmt.Sprintf("%s ×%.0f (%d-step phase)", l.what, l.n, phases[i].steps))
			}
		}
	}
	if len(excluded) == 0 {
		excluded = append(excluded, "none")
	}

	fmt.Fprintf(&b, `
How these were measured. One envtest control plane (kube-apiserver %s, etcd %s with --unsafe-no-fsync; the bench's user is system:masters, exempt from API priority and fairness), so every rate here is a ceiling of what a real cluster gives; only the ratios carry over. The manager is the real wiring (internal/manager.Run with the flags `+"`aias manager`"+` parses; metrics and probes off; no client-side rate limit, as ctrl.GetConfig gives it) with the dev kubelet in instant mode added the way `+"`aias dev`"+` adds it: a Job completes with one status write and nothing runs, so no step outcome or result artifact reaches the store. Each phase creates a Workflow (concurrency Allow, a linear chain of steps), waits until the manager has reconciled it, then creates %d Runs from %d concurrent creators; the time runs from the first create until a watch has seen all %d Succeeded. The ceiling creates %d Runs of the same shape with the same creators into another namespace while no manager runs (after 64 untimed creates that warm the apiserver up), once before the Run phases (deleted before the manager starts) and once after; the higher rate counts. ratio = Runs/s ÷ (ceiling ÷ all-in writes per Run).

Writes are kube-apiserver's own count: apiserver_request_total (verbs POST, PUT, PATCH, APPLY, DELETE, DELETECOLLECTION, any response code) scraped from its /metrics before and after each phase, the after-scrape taken once no Run-caused write has happened for 2 s, so asynchronous writes (events, the Workflow's coalesced run summary) count. The counter has no client label, so writes are attributed by resource: Run creates are the bench's, Job status is the dev kubelet's, and runs, runs/status, jobs, secrets, events and workflows/status are the AIAS controllers'. Anything else is not caused by the Runs and left out; this run: %s. In a real cluster the kubelet and the Job controller write more per step than the dev kubelet's single Job status write (pod create, pod status updates, Job status on start and on completion), so the all-in figure is a floor there.

Manager RSS: the real binary (`+"`aias manager`"+`, KUBECONFIG pointing at an admin user of a fresh envtest, metrics on localhost) started against 10,000 Runs already Succeeded, all of one Workflow (a busy endpoint's history), shaped like a 1-step Run of the phase above plus a result artifact, created with the finalizer aias.dev/run-cleanup already on (so the manager has nothing to patch) and their status written before the manager starts. VmRSS and VmHWM come from /proc/<pid>/status once the run controller has reconciled every Run and the run and workflow work queues are empty, plus 5 s; the time is from process start until then. The second row adds what such a cluster also holds: each Run's completed step Job (a copy of a real one from the phase above), which the manager caches.
`, testenv.KubernetesVersion, testenv.EtcdVersion, engineRuns, engineCreators, engineRuns, engineRuns, strings.Join(excluded, "; "))
	return b.String()
}
