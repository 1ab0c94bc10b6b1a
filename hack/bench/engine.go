package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/manager"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/nodeagent"
	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// The run engine (issues 4 and 12) on the most realistic control plane the project has:
// kube-apiserver and etcd with kube-controller-manager and kube-scheduler at their
// defaults (as on EKS, GKE or AKS, where nobody can change them) and the node agent in
// instant mode standing in for the kubelet. How fast Runs reach Succeeded when steps cost
// nothing, their latency, how many apiserver writes each Run takes and by whom, and the
// raw create ceiling of the same control plane; then the manager's memory with 10,000
// finished Runs (rss.go).
const (
	engineCreators = 16
	phaseTimeout   = 10 * time.Minute
	loneRuns       = 20 // sequential lone Runs for the idle latency
	benchNodes     = 4  // Nodes, each with its own instant node agent
)

// apiserverProfile, when set (-apiserver-profile), receives a 15 s CPU profile of
// kube-apiserver taken during the first 1-step phase: where the control plane's time goes.
var apiserverProfile string

// engineSizes are the Runs per phase (-runs sets one size instead; the figures
// are 300 and 1000).
var engineSizes = []int{300, 1000}

// cluster is a control plane with the clients the bench drives it with.
type cluster struct {
	env *testenv.Env
	// cfg is the admin config without client-side rate limiting, as ctrl.GetConfig
	// gives the real manager (QPS -1): the apiserver is what is measured.
	cfg *rest.Config
	c   crclient.Client
}

func newCluster(env *testenv.Env) (*cluster, error) {
	cfg := rest.CopyConfig(env.Config)
	cfg.QPS, cfg.Burst = -1, 0
	cfg.UserAgent = uaBench
	c, err := crclient.New(cfg, crclient.Options{Scheme: manager.NewScheme()})
	if err != nil {
		return nil, err
	}
	return &cluster{env: env, cfg: cfg, c: c}, nil
}

// phaseResult is one phase: a workflow shape and a number of Runs.
type phaseResult struct {
	steps, n int
	wall     time.Duration
	rate     float64 // Runs/s to Succeeded
	p50, p99 time.Duration
	writes   writeTally // apiserver writes during the phase, settled
	run      *aiasv1alpha1.Run
	job      *batchv1.Job
	pod      *corev1.Pod
}

func (p phaseResult) perRun(writer string) float64 {
	return p.writes.total(byWriter(writer)) / float64(p.n)
}

func (p phaseResult) allIn() float64 { return p.writes.total(runCaused) / float64(p.n) }

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

	audit := &auditLog{path: filepath.Join(tmp, "audit.log")}
	env, err := testenv.StartWith(testenv.Options{AuditLog: audit.path})
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

	// The ceiling while no AIAS controller runs (kube-controller-manager and the scheduler
	// do): the same Runs, the same creators, before and after the Run phases (the
	// machine's load drifts); the higher one counts.
	var ceilings [2]float64
	if ceilings[0], err = cl.rawCeiling(ctx, "bench-ceiling-before", audit); err != nil {
		return "", fmt.Errorf("raw create ceiling: %w", err)
	}
	logf("raw Run create before the Run phases: %.0f creates/s", ceilings[0])
	phases, mixes, lone, err := cl.enginePhases(ctx, dbURL, keyFile, audit)
	if err != nil {
		return "", err
	}
	if ceilings[1], err = cl.rawCeiling(ctx, "bench-ceiling-after", audit); err != nil {
		return "", fmt.Errorf("raw create ceiling: %w", err)
	}
	logf("raw Run create after the Run phases: %.0f creates/s", ceilings[1])
	stopEnv()

	rss, err := managerRSS(ctx, bin, dbURL, keyFile, tmp, phases[0].run, phases[0].job, phases[0].pod)
	if err != nil {
		return "", fmt.Errorf("manager RSS: %w", err)
	}
	return engineMarkdown(ceilings, phases, mixes, lone, rss), nil
}

// engineRig is the real manager wiring (manager.Run, as `aias manager` and `aias dev`
// do) and benchNodes node agents in instant mode on a cluster.
type engineRig struct {
	exited       *exit // the running manager's end
	startManager func()
	stopManager  func()
	stop         func() // the manager, then the node agents
}

// startEngine starts the node agents, waits until they are ready, and starts the manager.
func (cl *cluster) startEngine(ctx context.Context, dbURL, keyFile string) (*engineRig, error) {
	opts, err := manager.ParseFlags([]string{
		"--metrics-bind-address=0", "--health-probe-bind-address=0", "--zap-log-level=error",
		"--database-url=" + dbURL, "--step-token-key-file=" + keyFile,
		"--runner-image=example.invalid/aias:bench", "--internal-api-url=http://aias-internal.invalid:8082",
	})
	if err != nil {
		return nil, err
	}
	opts.RunAgain = true                                  // stopped and started again around each write-mix ceiling
	workRoot, err := os.MkdirTemp("", "aias-bench-pods-") // Instant runs no process, but the agent wants a root
	if err != nil {
		return nil, err
	}
	// Several Nodes, as a cluster has: each node agent, like a kubelet, has the kubelet's
	// own client limits (50 requests/s, burst 100) and spends two writes per Pod.
	agentCfg := rest.CopyConfig(cl.env.Config)
	agentCfg.UserAgent = uaNodeAgent
	var agents []*nodeagent.Agent
	for i := range benchNodes {
		agents = append(agents, &nodeagent.Agent{Config: agentCfg, NodeName: fmt.Sprintf("bench-node-%d", i), Instant: true, WorkRoot: workRoot})
	}
	managerCfg := rest.CopyConfig(cl.cfg)
	managerCfg.UserAgent = uaManager
	actx, stopAgents := context.WithCancel(ctx)
	var agentsDone []*exit
	for _, a := range agents {
		agentsDone = append(agentsDone, goExit(func() error { return a.Run(actx) }))
	}
	rig := &engineRig{stopManager: func() {}}
	rig.stop = func() {
		rig.stopManager()
		stopAgents()
		for _, e := range agentsDone {
			<-e.done
		}
		_ = os.RemoveAll(workRoot)
	}
	for _, a := range agents {
		select {
		case <-a.Ready():
		case <-time.After(time.Minute):
			rig.stop()
			return nil, errors.New("a node agent was not ready after a minute")
		}
	}
	// The manager is stopped for each write-mix ceiling (which makes its writes itself)
	// and started again for the phase that follows it.
	rig.startManager = func() {
		mctx, cancel := context.WithCancel(ctx)
		e := goExit(func() error { return manager.Run(mctx, managerCfg, opts) })
		rig.exited, rig.stopManager = e, func() { cancel(); <-e.done }
	}
	rig.startManager()
	return rig, nil
}

// enginePhases runs the real manager wiring with the node agent in instant mode, and
// measures each workflow shape and size.
func (cl *cluster) enginePhases(ctx context.Context, dbURL, keyFile string, audit *auditLog) ([]phaseResult, []mixResult, latency, error) {
	rig, err := cl.startEngine(ctx, dbURL, keyFile)
	if err != nil {
		return nil, nil, latency{}, err
	}
	defer rig.stop()

	// Warm up: caches synced, store connections open, Runs through end to end.
	warm, err := cl.phase(ctx, rig.exited, audit, "bench-warmup", 1, 16)
	if err != nil {
		return nil, nil, latency{}, fmt.Errorf("warm-up: %w", err)
	}
	lone, err := cl.loneLatency(ctx, rig.exited, "bench-lone")
	if err != nil {
		return nil, nil, latency{}, fmt.Errorf("lone Runs: %w", err)
	}
	logf("lone 1-step Run, creation to Succeeded: p50 %v, max %v of %d", lone.p50, lone.max, loneRuns)
	var phases []phaseResult
	var mixes []mixResult
	for _, steps := range []int{1, 5} {
		for _, n := range engineSizes {
			if n == slices.Min(engineSizes) {
				// The same writes without AIAS's logic, on the cluster as the phase finds it
				// (each phase leaves its objects behind), the scheduler and node agents running.
				rig.stopManager()
				rate, writes, err := cl.mixCeiling(ctx, audit, fmt.Sprintf("bench-mix-%d-step", steps), steps, n, warm.job)
				if err != nil {
					return nil, nil, latency{}, fmt.Errorf("write-mix ceiling: %w", err)
				}
				logf("write-mix ceiling, %d-step, %d Runs: %.1f Runs/s, %.2f writes per Run", steps, n, rate, writes.total(runCaused)/float64(n))
				mixes = append(mixes, mixResult{steps: steps, n: n, rate: rate, writes: writes})
				rig.startManager()
			}
			ns := fmt.Sprintf("bench-%d-step-%d", steps, n)
			res, err := cl.phase(ctx, rig.exited, audit, ns, steps, n)
			if err != nil {
				return nil, nil, latency{}, fmt.Errorf("%d-step phase of %d Runs: %w", steps, n, err)
			}
			logf("%d-step, %d Runs: Succeeded in %v: %.1f Runs/s, p50 %v, p99 %v; writes per Run: %.2f all-in, %.2f AIAS",
				steps, n, res.wall.Round(time.Millisecond), res.rate, res.p50, res.p99, res.allIn(), res.perRun(writerAIAS))
			logBreakdown(res)
			phases = append(phases, res)
		}
	}
	return phases, mixes, lone, nil
}

// mixResult is the write-mix ceiling of one workflow shape (mix.go).
type mixResult struct {
	steps, n int
	rate     float64
	writes   writeTally
}

// latency of lone Runs on an idle engine.
type latency struct{ p50, max time.Duration }

// loneLatency creates loneRuns 1-step Runs one after the other, each once the previous
// Succeeded, and measures creation (the create call's return) to Succeeded (seen by a
// watch).
func (cl *cluster) loneLatency(ctx context.Context, exited *exit, ns string) (latency, error) {
	if err := cl.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return latency{}, err
	}
	wf := benchWorkflow(ns, "wf", 1)
	if err := cl.c.Create(ctx, wf); err != nil {
		return latency{}, err
	}
	if err := cl.workflowReady(ctx, exited, wf); err != nil {
		return latency{}, err
	}
	w, err := watchRuns(ctx, cl.cfg, ns, loneRuns)
	if err != nil {
		return latency{}, err
	}
	defer w.stop()
	var took []time.Duration
	for i := range loneRuns {
		run := benchRun(ns, "wf", i)
		if err := cl.c.Create(ctx, run); err != nil {
			return latency{}, err
		}
		w.created(run.Name)
		if err := waitFor(ctx, exited, time.Minute, "a lone Run to succeed", func() (bool, error) {
			return w.succeeded.Load() == int64(i+1), nil
		}); err != nil {
			return latency{}, err
		}
		took = append(took, w.latency(run.Name))
		time.Sleep(200 * time.Millisecond) // let the Run's asynchronous writes land
	}
	slices.Sort(took)
	return latency{p50: took[len(took)/2], max: took[len(took)-1]}, nil
}

func (cl *cluster) workflowReady(ctx context.Context, exited *exit, wf *aiasv1alpha1.Workflow) error {
	return waitFor(ctx, exited, time.Minute, "the Workflow to be Ready", func() (bool, error) {
		err := cl.c.Get(ctx, crclient.ObjectKeyFromObject(wf), wf)
		return err == nil && wf.Status.ObservedGeneration == wf.Generation && len(wf.Status.Conditions) > 0, err
	})
}

// phase creates a Workflow of steps linear steps and n Runs of it, and measures the time
// from the first create until all n are Succeeded, each Run's latency, and the writes.
func (cl *cluster) phase(ctx context.Context, exited *exit, audit *auditLog, ns string, steps, n int) (phaseResult, error) {
	res, err := cl.phaseOf(ctx, exited, audit, ns, benchWorkflow(ns, "wf", steps).Spec, n)
	res.steps = steps
	return res, err
}

// phaseOf is phase for any Workflow spec (the Workflow is named wf in namespace ns).
func (cl *cluster) phaseOf(ctx context.Context, exited *exit, audit *auditLog, ns string, spec aiasv1alpha1.WorkflowSpec, n int) (phaseResult, error) {
	if err := cl.createWorkflow(ctx, exited, ns, spec); err != nil {
		return phaseResult{n: n}, err
	}
	// The first 1-step phase, when asked, gets an apiserver profile.
	profile := apiserverProfile != "" && len(spec.Steps) == 1 && spec.Steps[0].ForEach == "" && n > 100
	res, err := cl.measureRuns(ctx, exited, audit, ns, n, 0, profile, func(i int) *aiasv1alpha1.Run { return benchRun(ns, "wf", i) })
	if err != nil {
		return res, err
	}
	res.run = &aiasv1alpha1.Run{}
	if err := cl.c.Get(ctx, crclient.ObjectKey{Namespace: ns, Name: benchRun(ns, "wf", 0).Name}, res.run); err != nil {
		return res, err
	}
	var jobs batchv1.JobList
	if err := cl.c.List(ctx, &jobs, crclient.InNamespace(ns), crclient.Limit(1)); err != nil || len(jobs.Items) == 0 {
		return res, fmt.Errorf("reading a step Job: %v (%d found)", err, len(jobs.Items))
	}
	res.job = &jobs.Items[0]
	res.pod = &corev1.Pod{}
	if err := cl.c.Get(ctx, crclient.ObjectKeyFromObject(res.job), res.pod); err != nil {
		return res, fmt.Errorf("reading a step Pod: %w", err)
	}
	return res, nil
}

// createWorkflow creates namespace ns and in it the Workflow wf of spec, and waits until
// it is reconciled.
func (cl *cluster) createWorkflow(ctx context.Context, exited *exit, ns string, spec aiasv1alpha1.WorkflowSpec) error {
	if err := cl.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return err
	}
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Name: "wf", Namespace: ns}, Spec: spec}
	if err := cl.c.Create(ctx, wf); err != nil {
		return err
	}
	return cl.workflowReady(ctx, exited, wf)
}

// measureRuns creates the n Runs mkRun makes in namespace ns from engineCreators
// creators and measures the time from the first create until all n are Succeeded, each
// Run's latency, and the writes until they settle. pre Runs of the namespace Succeeded
// before (a warm-up the phase must not count).
func (cl *cluster) measureRuns(ctx context.Context, exited *exit, audit *auditLog, ns string, n, pre int, profile bool, mkRun func(i int) *aiasv1alpha1.Run) (phaseResult, error) {
	res := phaseResult{n: n}
	w, err := watchRuns(ctx, cl.cfg, ns, n+pre)
	if err != nil {
		return res, err
	}
	defer w.stop()
	if err := settle(ctx, audit); err != nil {
		return res, err
	}
	if err := audit.mark(); err != nil {
		return res, err
	}

	if profile {
		go cl.profileAPIServer(ctx, apiserverProfile)
		apiserverProfile = ""
	}
	start := time.Now()
	if err := parallel(n, engineCreators, func(i int) error {
		run := mkRun(i)
		if err := cl.c.Create(ctx, run); err != nil {
			return err
		}
		w.created(run.Name)
		return nil
	}); err != nil {
		return res, fmt.Errorf("creating Runs: %w", err)
	}
	select {
	case <-w.done:
	case <-exited.done:
		return res, fmt.Errorf("manager exited: %v", exited.err)
	case <-time.After(phaseTimeout):
		return res, fmt.Errorf("%d of %d Runs Succeeded after %v", w.succeeded.Load(), n+pre, phaseTimeout)
	}
	if msg := w.failure(); msg != "" {
		return res, errors.New(msg)
	}
	res.wall = w.last.Sub(start)
	res.rate = float64(n) / res.wall.Seconds()
	res.p50, res.p99 = w.percentiles()

	if err := settle(ctx, audit); err != nil {
		return res, err
	}
	res.writes, err = audit.since()
	return res, err
}

// profileAPIServer writes a 15 s CPU profile of kube-apiserver (its /debug/pprof).
func (cl *cluster) profileAPIServer(ctx context.Context, path string) {
	rc, err := rest.RESTClientFor(withCodecs(rest.CopyConfig(cl.cfg)))
	if err != nil {
		logf("apiserver profile: %v", err)
		return
	}
	raw, err := rc.Get().AbsPath("/debug/pprof/profile").Param("seconds", "15").Timeout(30 * time.Second).DoRaw(ctx)
	if err != nil {
		logf("apiserver profile: %v", err)
		return
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		logf("apiserver profile: %v", err)
		return
	}
	logf("apiserver CPU profile written to %s", path)
}

func withCodecs(cfg *rest.Config) *rest.Config {
	cfg.GroupVersion = &schema.GroupVersion{}
	cfg.APIPath = "/"
	cfg.NegotiatedSerializer = scheme.Codecs.WithoutConversion()
	return cfg
}

// settle waits until the writes Runs cause have stopped: asynchronous ones (events, the
// coalesced Workflow summary) belong to the phase. Quiet means no such write for 2 s.
func settle(ctx context.Context, audit *auditLog) error {
	probe := &auditLog{path: audit.path}
	if err := probe.mark(); err != nil {
		return err
	}
	for range 30 {
		time.Sleep(2 * time.Second)
		t, err := probe.since()
		if err != nil {
			return err
		}
		if t.total(runCaused) == 0 {
			return nil
		}
		if err := probe.mark(); err != nil {
			return err
		}
	}
	return errors.New("apiserver writes did not settle within 60 s")
}

// rawCeiling creates the largest phase's number of Runs of the benchmark's shape with
// the same creators while no AIAS controller runs, then deletes them so the manager never
// sees them.
func (cl *cluster) rawCeiling(ctx context.Context, ns string, audit *auditLog) (float64, error) {
	n := slices.Max(engineSizes)
	if err := cl.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return 0, err
	}
	// Untimed warm-up: the first requests on a fresh apiserver (the CRD's handler,
	// connections) are slow and are no part of a ceiling.
	// No finalizer here: no controller would remove it when these Runs are deleted.
	ceilingRun := func(i int) *aiasv1alpha1.Run {
		run := benchRun(ns, "wf", i)
		run.Finalizers = nil
		return run
	}
	if err := parallel(4*engineCreators, engineCreators, func(i int) error {
		run := ceilingRun(i)
		run.Name = fmt.Sprintf("warm-%05d", i)
		return cl.c.Create(ctx, run)
	}); err != nil {
		return 0, err
	}
	if err := audit.mark(); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := parallel(n, engineCreators, func(i int) error { return cl.c.Create(ctx, ceilingRun(i)) }); err != nil {
		return 0, err
	}
	rate := float64(n) / time.Since(start).Seconds()
	// The audit log must see exactly the creates, or the write counts below mean nothing.
	t, err := audit.since()
	if err != nil {
		return 0, err
	}
	if got := t.total(byWriter(writerBench)); got != float64(n) {
		return 0, fmt.Errorf("the audit log has %.0f Run creates, want %d", got, n)
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

// benchRun is the Run every phase creates: what a webhook delivery makes, the finalizer
// included (the hook listener sets it at create).
func benchRun(ns, workflow string, i int) *aiasv1alpha1.Run {
	input := fmt.Sprintf(`{"event":"push","n":%d}`, i)
	return &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("run-%05d", i), Namespace: ns, Finalizers: []string{aiasv1alpha1.RunFinalizer}},
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
	seen      sync.Map // name → time.Time it was seen Succeeded
	createdAt sync.Map // name → time.Time its create call returned
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
		if _, dup := w.seen.LoadOrStore(run.Name, time.Now()); !dup && w.succeeded.Add(1) == w.n {
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

// created notes when a Run's create returned.
func (w *runWatch) created(name string) { w.createdAt.Store(name, time.Now()) }

// latency is one Run's time from its create's return to the watch seeing it Succeeded.
// A watch can deliver Succeeded before the create call returns to its goroutine; that
// counts as no time.
func (w *runWatch) latency(name string) time.Duration {
	c, ok1 := w.createdAt.Load(name)
	s, ok2 := w.seen.Load(name)
	if !ok1 || !ok2 {
		return 0
	}
	return max(s.(time.Time).Sub(c.(time.Time)), 0)
}

// percentiles are the p50 and p99 of the latencies of every Run created.
func (w *runWatch) percentiles() (time.Duration, time.Duration) {
	var all []time.Duration
	w.createdAt.Range(func(k, _ any) bool {
		all = append(all, w.latency(k.(string)))
		return true
	})
	if len(all) == 0 {
		return 0, 0
	}
	slices.Sort(all)
	at := func(q float64) time.Duration { return all[min(int(q*float64(len(all))), len(all)-1)] }
	return at(0.50), at(0.99)
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

// logBreakdown prints every write of a phase per Run, for whoever cuts writes.
func logBreakdown(p phaseResult) {
	for _, k := range p.writes.keys() {
		logf("  %-26s %-40s %s per Run", k.writer, k.what, p.writes.describe(k, float64(p.n)))
	}
}

// engineMarkdown is the "Run engine" section.
func engineMarkdown(ceilings [2]float64, phases []phaseResult, mixes []mixResult, lone latency, rss []rssResult) string {
	ceiling := max(ceilings[0], ceilings[1])
	var b strings.Builder
	b.WriteString("## Run engine on a real control plane (issues 4 and 12)\n\n")
	fmt.Fprintf(&b, "kube-apiserver + etcd with kube-controller-manager (every default controller) and kube-scheduler at their default client limits (20/30 and 50/100 requests/s), %d Nodes with a node agent each in instant mode as the kubelet (the kubelet's client limits, 50/100).\n\n", benchNodes)
	b.WriteString("| what | AIAS | ceiling | ratio |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| raw Run create, %d Runs (%d creators, the control plane running, no AIAS controller) | — | %.0f creates/s (the higher of %.0f before and %.0f after the Run phases) | — |\n",
		slices.Max(engineSizes), engineCreators, ceiling, ceilings[0], ceilings[1])
	fmt.Fprintf(&b, "| lone 1-step Run, creation to Succeeded (%d one after another, idle engine) | **p50 %s**, max %s | — | goal < 0.5 s |\n",
		loneRuns, lone.p50.Round(time.Millisecond), lone.max.Round(time.Millisecond))
	for _, p := range phases {
		allIn := p.allIn()
		bound := ceiling / allIn
		goal := "goal ≥ 0.7"
		switch {
		case p.steps == 1 && p.n == 300:
			goal += "; ≥ 30 Runs/s"
		case p.steps == 5:
			goal += "; ≥ 8 Runs/s"
		}
		fmt.Fprintf(&b, "| Runs to Succeeded, %d-step Workflow, %d Runs (%d creators) | **%.1f Runs/s** (%.1f s; creation→Succeeded p50 %s, p99 %s) | %.1f Runs/s (%.0f creates/s ÷ %.2f writes per Run, all writers) | **%.2f** (%s) |\n",
			p.steps, p.n, engineCreators, p.rate, p.wall.Seconds(), p.p50.Round(time.Millisecond), p.p99.Round(time.Millisecond), bound, ceiling, allIn, p.rate/bound, goal)
	}
	for _, m := range mixes {
		var best *phaseResult // the AIAS phase measured right after it
		for i := range phases {
			if p := &phases[i]; p.steps == m.steps && p.n == m.n {
				best = p
			}
		}
		mixWrites := m.writes.total(runCaused) / float64(m.n)
		fmt.Fprintf(&b, "| write-mix ceiling, %d-step: the AIAS manager's writes made by a driver without logic (%d Runs, %d requests in flight; the scheduler and node agents as above) | AIAS %.1f Runs/s | **%.1f Runs/s** (%.2f writes per Run, all writers) | **%.2f** |\n",
			m.steps, m.n, mixConcurrency, best.rate, m.rate, mixWrites, best.rate/m.rate)
	}
	for _, p := range phases {
		goal := "—"
		if p.steps == 1 {
			goal = "goal ≤ 15 (Argo 16.8–18.0)"
		}
		fmt.Fprintf(&b, "| apiserver writes per %d-step Run (%d Runs), all writers | **%.2f**: bench %.2f, AIAS %.2f, scheduler %.2f, node agent %.2f, kube-controller-manager %.2f | — | %s |\n",
			p.steps, p.n, p.allIn(), p.perRun(writerBench), p.perRun(writerAIAS), p.perRun(writerScheduler), p.perRun(writerKubelet), p.perRun(writerController), goal)
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

	b.WriteString("\napiserver writes per Run, by writer and resource (writes refused with 409 Conflict are counted and shown in brackets):\n\n| writer | write |")
	for _, p := range phases {
		fmt.Fprintf(&b, " %d-step ×%d |", p.steps, p.n)
	}
	b.WriteString("\n| --- | --- |" + strings.Repeat(" ---: |", len(phases)) + "\n")
	seen := map[writeKey]bool{}
	var keys []writeKey
	for _, p := range phases {
		for _, k := range p.writes.keys() {
			if !seen[k] && !k.background() {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	all := writeTally{n: map[writeKey]float64{}}
	for _, k := range keys {
		all.n[k] = 1
	}
	for _, k := range all.keys() {
		fmt.Fprintf(&b, "| %s | %s |", k.writer, k.what)
		for _, p := range phases {
			b.WriteString(" " + p.writes.describe(k, float64(p.n)) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("| **all writers** | |")
	for _, p := range phases {
		fmt.Fprintf(&b, " **%.2f** |", p.allIn())
	}
	b.WriteString("\n")
	var background []string
	for _, p := range phases {
		for _, k := range p.writes.keys() {
			if k.background() {
				background = append(background, fmt.Sprintf("%s %s ×%.0f (%d-step ×%d)", k.writer, k.what, p.writes.n[k], p.steps, p.n))
			}
		}
	}
	if len(background) == 0 {
		background = append(background, "none")
	}

	fmt.Fprintf(&b, `
How these were measured. One control plane: envtest's kube-apiserver %[1]s and etcd %[2]s (--unsafe-no-fsync; the clients are system:masters, exempt from API priority and fairness, so every rate is a ceiling of what a real cluster gives and only the ratios carry over), with kube-controller-manager and kube-scheduler %[1]s built from the same k8s.io/kubernetes module, started with their defaults (leader election off, one replica each) and a ServiceAccount admission plugin on. %[6]d node agents (internal/testrig/nodeagent, instant mode, protobuf and the kubelet's client limits, each its own Node) write, for each Pod the scheduler binds to their Node, the two status updates a kubelet writes (Running, then Succeeded) without running anything, so no step outcome or result artifact reaches the store. The manager is the real wiring (internal/manager.Run with the flags `+"`aias manager`"+` parses; no client-side rate limit, as ctrl.GetConfig gives it). Each step attempt is a Job with spec.managedBy aias.dev/run-controller and one Pod the Run controller creates; the cluster's Job controller never acts on it (docs/architecture.md, "Step Jobs and Pods"). Each phase creates a Workflow (concurrency Allow, a linear chain of steps), waits until it is reconciled, then creates its Runs from %[3]d concurrent creators; throughput is the Runs divided by the time from the first create until a watch has seen the last one Succeeded; latency is each Run's create call's return to the watch seeing it Succeeded. The ceiling creates %[4]d Runs of the same shape with the same creators into another namespace while the control plane runs but no AIAS controller (after 64 untimed creates), once before the phases and once after; the higher rate counts. ratio = Runs/s ÷ (ceiling ÷ writes per Run, all writers). The write-mix ceiling (hack/bench/mix.go) makes exactly the AIAS manager's writes for the same Runs — the Run, its token Secret, per step a Job, its Pod, a Run status patch and an event, the Job's terminal status once the scheduler and the node agents have run the Pod, the final status and event — from a driver with no logic, no store and no informer of its own (%[7]d requests in flight), with the manager stopped, right before the AIAS phase of the same shape and on the cluster as that phase finds it: the most any controller making these writes gets from this control plane on this machine. A raw create is the cheapest write there is; a Pod create, a Pod status patch or a Job update costs the apiserver several times as much (admission, size, watchers), which is why the write-mix ceiling, not raw creates ÷ writes, is the bound that can be reached.

Writes come from kube-apiserver's audit log (level Metadata, every create, update, patch and delete), attributed by user agent: the bench's creators, the AIAS manager, the node agent, kube-scheduler, kube-controller-manager. The window closes once no Run-caused write has happened for 2 s, so asynchronous writes (events, the Workflow's coalesced run summary) count. Background writes, not caused by Runs, are left out of the per-Run figures; this run: %[5]s.

Manager RSS: the real binary (`+"`aias manager`"+`, KUBECONFIG pointing at an admin user of a fresh control plane, metrics on localhost) started against 10,000 Runs already Succeeded, all of one Workflow (a busy endpoint's history), shaped like a 1-step Run of the phases above plus a result artifact, created with the finalizer aias.dev/run-cleanup already on (so the manager has nothing to patch) and their status written before the manager starts. VmRSS and VmHWM come from /proc/<pid>/status once the run controller has reconciled every Run and the run and workflow work queues are empty, plus 5 s; the time is from process start until then. The second row adds what such a cluster also holds: each Run's finished step Job and its Pod (copies of real ones from the phase above), which the manager caches.
`, testenv.KubernetesVersion, testenv.EtcdVersion, engineCreators, slices.Max(engineSizes), strings.Join(background, "; "), benchNodes, mixConcurrency)
	return b.String()
}
