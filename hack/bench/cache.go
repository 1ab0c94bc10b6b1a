package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
)

// Cached steps and resume (issue 24) on the Run engine section's kind of cluster and
// manager, a control plane of their own: a 5-step Workflow whose steps all come from the
// step cache against the same 5 steps without cache — Runs/s, latency, apiserver writes,
// Jobs and Pods per Run — and the resume of a 10-step Run that failed at step 9 against
// a full rerun of it.
//
// The instant node agents run nothing and always succeed, so step 9 fails the way a
// cluster makes a step fail without running it: it asks to run as root (securityContext
// runAsUser 0) in a namespace Pod Security "restricted" enforces, and admission refuses
// its Pod (the manager fails the attempt for good, controllers/run_job.go
// permanentlyRefused). The bench then lifts the namespace's restriction, as an admin
// would, and resumes: the resumed Run runs the original's frozen spec, in which step 9
// still asks for root, and now passes.

// cacheRuns are the Runs of each cache phase (-cache-runs).
var cacheRuns = 50

const (
	cacheSteps   = 5
	resumeSteps  = 10
	resumeFailAt = 9  // the step (from 1) that fails in the original Runs
	resumeRuns   = 10 // originals; then as many resumes, then as many full reruns, one at a time
	cacheInput   = `{"event":"push","ref":"refs/heads/main","after":"4e9b492"}`
)

// cacheResult is a cache phase with the Jobs and Pods its counted Runs made.
type cacheResult struct {
	phaseResult
	jobs, pods float64 // per Run
	cached     float64 // steps per Run taken from the cache
}

// resumeResult is a batch of Runs created one after another: resumes or full reruns.
type resumeResult struct {
	n              int
	p50, mean, max time.Duration
	writes         writeTally
	jobs, pods     float64 // per Run
	cached         float64 // steps per Run taken from the original
}

func (r resumeResult) perRun(keep func(writeKey) bool) float64 {
	return r.writes.total(keep) / float64(r.n)
}

// cacheSpec is a linear Workflow of n steps, each with cache ttl 1h when cached.
func cacheSpec(n int, cached bool) aiasv1alpha1.WorkflowSpec {
	var steps []aiasv1alpha1.WorkflowStep
	for i := range n {
		s := langStep(fmt.Sprintf("s%d", i+1))
		if cached {
			s.Cache = &aiasv1alpha1.StepCache{TTL: metav1.Duration{Duration: time.Hour}}
		}
		steps = append(steps, s)
	}
	return langSpec(steps...)
}

// cacheRun is the cache phases' Run: a webhook delivery like benchRun's, every one with
// the same input (the same push delivered again), so every step's cache key matches.
func cacheRun(ns string, i int) *aiasv1alpha1.Run {
	run := benchRun(ns, "wf", i)
	input := cacheInput
	run.Spec.Input = &input
	return run
}

func cacheSection(ctx context.Context, st *store.Store) (string, error) {
	if cacheRuns < 1 {
		return "", fmt.Errorf("-cache-runs %d: want at least one Run per phase", cacheRuns)
	}
	w, err := startWarmRig(ctx, st, "bench-cache")
	if err != nil {
		return "", err
	}
	defer w.stop()
	cl, rig, audit := w.cl, w.rig, w.audit
	plain, err := cl.uncachedPhase(ctx, rig.exited, audit, "bench-cache-off")
	if err != nil {
		return "", fmt.Errorf("uncached %d-step phase: %w", cacheSteps, err)
	}
	hit, err := cl.cachedPhase(ctx, rig.exited, audit, "bench-cache-on")
	if err != nil {
		return "", fmt.Errorf("cached %d-step phase: %w", cacheSteps, err)
	}
	resumed, rerun, err := cl.resumePhases(ctx, rig.exited, audit, "bench-resume")
	if err != nil {
		return "", fmt.Errorf("resume: %w", err)
	}
	return cacheMarkdown(plain, hit, resumed, rerun), nil
}

// uncachedPhase: cacheRuns Runs of the 5 steps without cache, all with the same input.
func (cl *cluster) uncachedPhase(ctx context.Context, exited *exit, audit *auditLog, ns string) (cacheResult, error) {
	if err := cl.createWorkflow(ctx, exited, ns, cacheSpec(cacheSteps, false)); err != nil {
		return cacheResult{}, err
	}
	p, err := cl.measureRuns(ctx, exited, audit, ns, cacheRuns, 0, false, func(i int) *aiasv1alpha1.Run { return cacheRun(ns, i) })
	if err != nil {
		return cacheResult{}, err
	}
	r := cacheResult{phaseResult: p}
	r.steps = cacheSteps
	jobs, pods, err := cl.children(ctx, ns, "")
	if err != nil {
		return r, err
	}
	r.jobs, r.pods = float64(jobs)/float64(p.n), float64(pods)/float64(p.n)
	logCachePhase("uncached", r)
	return r, nil
}

// cachedPhase: the same 5 steps with cache ttl 1h; one warm-up Run fills the cache (not
// counted), then cacheRuns Runs with the same input, each of which must take every step
// from the cache.
func (cl *cluster) cachedPhase(ctx context.Context, exited *exit, audit *auditLog, ns string) (cacheResult, error) {
	if err := cl.createWorkflow(ctx, exited, ns, cacheSpec(cacheSteps, true)); err != nil {
		return cacheResult{}, err
	}
	warm := cacheRun(ns, 0)
	warm.Name, warm.Spec.Trigger.DeliveryID = "warm", "delivery-warm"
	if err := cl.c.Create(ctx, warm); err != nil {
		return cacheResult{}, err
	}
	if err := cl.waitRun(ctx, exited, warm); err != nil {
		return cacheResult{}, fmt.Errorf("the warm-up Run: %w", err)
	}
	if n := cachedSteps(warm); n != 0 {
		return cacheResult{}, fmt.Errorf("the warm-up Run took %d steps from the cache, want none (it fills it)", n)
	}
	warmJobs, warmPods, err := cl.children(ctx, ns, "")
	if err != nil {
		return cacheResult{}, err
	}
	p, err := cl.measureRuns(ctx, exited, audit, ns, cacheRuns, 1, false, func(i int) *aiasv1alpha1.Run { return cacheRun(ns, i) })
	if err != nil {
		return cacheResult{}, err
	}
	r := cacheResult{phaseResult: p}
	r.steps = cacheSteps
	jobs, pods, err := cl.children(ctx, ns, "")
	if err != nil {
		return r, err
	}
	r.jobs, r.pods = float64(jobs-warmJobs)/float64(p.n), float64(pods-warmPods)/float64(p.n)
	var runs aiasv1alpha1.RunList
	if err := cl.c.List(ctx, &runs, crclient.InNamespace(ns)); err != nil {
		return r, err
	}
	full, total := 0, 0
	for i := range runs.Items {
		if run := &runs.Items[i]; run.Name != warm.Name {
			n := cachedSteps(run)
			total += n
			if n == cacheSteps {
				full++
			}
		}
	}
	r.cached = float64(total) / float64(p.n)
	logCachePhase("cached", r)
	if full != p.n || jobs != warmJobs || pods != warmPods {
		return r, fmt.Errorf("%d of %d counted Runs fully cached; %d Jobs and %d Pods besides the warm-up's %d and %d, want none",
			full, p.n, jobs-warmJobs, pods-warmPods, warmJobs, warmPods)
	}
	return r, nil
}

func logCachePhase(label string, r cacheResult) {
	logf("%s %d-step, %d Runs: Succeeded in %v: %.1f Runs/s, p50 %v, p99 %v; writes per Run: %.2f all-in, %.2f AIAS; %.2f Jobs, %.2f Pods, %.2f cached steps per Run",
		label, r.steps, r.n, r.wall.Round(time.Millisecond), r.rate, r.p50, r.p99, r.allIn(), r.perRun(writerAIAS), r.jobs, r.pods, r.cached)
	logBreakdown(r.phaseResult)
}

// cachedSteps counts the Run's steps that took their outputs from elsewhere.
func cachedSteps(run *aiasv1alpha1.Run) int {
	n := 0
	for _, st := range run.Status.Steps {
		if st.CachedFrom != nil {
			n++
		}
	}
	return n
}

// children counts the step Jobs and Pods in ns, of the Run named run when it is set.
func (cl *cluster) children(ctx context.Context, ns, run string) (int, int, error) {
	opts := []crclient.ListOption{crclient.InNamespace(ns)}
	if run != "" {
		opts = append(opts, crclient.MatchingLabels{aiasv1alpha1.LabelRun: run})
	}
	var jobs batchv1.JobList
	var pods corev1.PodList
	if err := cl.c.List(ctx, &jobs, opts...); err != nil {
		return 0, 0, err
	}
	if err := cl.c.List(ctx, &pods, opts...); err != nil {
		return 0, 0, err
	}
	return len(jobs.Items), len(pods.Items), nil
}

// waitRun waits until run Succeeded and reads it back; a Run that ends otherwise is an
// error.
func (cl *cluster) waitRun(ctx context.Context, exited *exit, run *aiasv1alpha1.Run) error {
	return cl.waitRunPhase(ctx, exited, run, aiasv1alpha1.RunSucceeded)
}

func (cl *cluster) waitRunPhase(ctx context.Context, exited *exit, run *aiasv1alpha1.Run, want aiasv1alpha1.RunPhase) error {
	return waitFor(ctx, exited, 2*time.Minute, "Run "+run.Name+" to be "+string(want), func() (bool, error) {
		if err := cl.c.Get(ctx, crclient.ObjectKeyFromObject(run), run); err != nil {
			return false, err
		}
		switch ph := run.Status.Phase; ph {
		case want:
			return true, nil
		case aiasv1alpha1.RunSucceeded, aiasv1alpha1.RunFailed, aiasv1alpha1.RunRejected, aiasv1alpha1.RunCanceled:
			return false, fmt.Errorf("run %s ended %s: %s", run.Name, ph, run.Status.Message)
		}
		return false, nil
	})
}

// resumeSpec is a linear Workflow of resumeSteps steps whose step resumeFailAt asks to
// run as root: refused by Pod Security while the namespace enforces "restricted",
// allowed once it does not.
func resumeSpec() aiasv1alpha1.WorkflowSpec {
	spec := cacheSpec(resumeSteps, false)
	spec.Steps[resumeFailAt-1].SecurityContext = &aiasv1alpha1.StepSecurityContext{RunAsUser: ptr.To[int64](0)}
	return spec
}

// resumePhases creates resumeRuns Runs of resumeSpec while ns enforces Pod Security
// "restricted" (each fails at step resumeFailAt, the steps before it Succeeded), lifts
// the restriction, then resumes them one after another, then reruns them (new Runs of
// the same Workflow and input) one after another.
func (cl *cluster) resumePhases(ctx context.Context, exited *exit, audit *auditLog, ns string) (resumeResult, resumeResult, error) {
	restricted := map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
	if err := cl.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: restricted}}); err != nil {
		return resumeResult{}, resumeResult{}, err
	}
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Name: "wf", Namespace: ns}, Spec: resumeSpec()}
	if err := cl.c.Create(ctx, wf); err != nil {
		return resumeResult{}, resumeResult{}, err
	}
	if err := cl.workflowReady(ctx, exited, wf); err != nil {
		return resumeResult{}, resumeResult{}, err
	}
	origs := make([]*aiasv1alpha1.Run, resumeRuns)
	if err := parallel(resumeRuns, engineCreators, func(i int) error {
		origs[i] = benchRun(ns, "wf", i)
		return cl.c.Create(ctx, origs[i])
	}); err != nil {
		return resumeResult{}, resumeResult{}, err
	}
	for _, o := range origs {
		if err := cl.waitRunPhase(ctx, exited, o, aiasv1alpha1.RunFailed); err != nil {
			return resumeResult{}, resumeResult{}, fmt.Errorf("original: %w", err)
		}
		var got []string
		for _, st := range o.Status.Steps {
			got = append(got, string(st.Phase))
		}
		want := slices.Repeat([]string{string(aiasv1alpha1.StepSucceeded)}, resumeFailAt-1)
		want = append(want, string(aiasv1alpha1.StepFailed))
		want = append(want, slices.Repeat([]string{string(aiasv1alpha1.StepSkipped)}, resumeSteps-resumeFailAt)...)
		if !slices.Equal(got, want) {
			return resumeResult{}, resumeResult{}, fmt.Errorf("original %s: steps %v, want %v (%s)", o.Name, got, want, o.Status.Message)
		}
	}
	logf("resume: %d originals Failed at step %d (%s)", resumeRuns, resumeFailAt, origs[0].Status.Message)

	// The admin lifts the restriction; Pod Security admission reads namespace labels
	// from its own informer, so give it a moment.
	nsObj := &corev1.Namespace{}
	if err := cl.c.Get(ctx, crclient.ObjectKey{Name: ns}, nsObj); err != nil {
		return resumeResult{}, resumeResult{}, err
	}
	nsObj.Labels = nil
	if err := cl.c.Update(ctx, nsObj); err != nil {
		return resumeResult{}, resumeResult{}, err
	}
	time.Sleep(2 * time.Second)

	resumed, err := cl.oneByOne(ctx, exited, audit, ns, func(i int) *aiasv1alpha1.Run {
		return &aiasv1alpha1.Run{
			ObjectMeta: metav1.ObjectMeta{Name: origs[i].Name + "-resume", Namespace: ns, Finalizers: []string{aiasv1alpha1.RunFinalizer}},
			Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}, ResumeOf: origs[i].Name,
				Trigger: &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerResume}},
		}
	}, func(i int, run *aiasv1alpha1.Run) error {
		for j, st := range run.Status.Steps {
			fromOrig := st.CachedFrom != nil && st.CachedFrom.Run == origs[i].Name
			if fromOrig != (j < resumeFailAt-1) {
				return fmt.Errorf("resumed %s: step %s cachedFrom %+v", run.Name, st.Name, st.CachedFrom)
			}
		}
		return nil
	})
	if err != nil {
		return resumeResult{}, resumeResult{}, fmt.Errorf("resumes: %w", err)
	}
	logResume("resume", resumed)
	rerun, err := cl.oneByOne(ctx, exited, audit, ns, func(i int) *aiasv1alpha1.Run {
		return &aiasv1alpha1.Run{
			ObjectMeta: metav1.ObjectMeta{Name: origs[i].Name + "-rerun", Namespace: ns, Finalizers: []string{aiasv1alpha1.RunFinalizer}},
			Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}, Input: origs[i].Spec.Input,
				Trigger: &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerManual}},
		}
	}, func(_ int, run *aiasv1alpha1.Run) error {
		if n := cachedSteps(run); n != 0 {
			return fmt.Errorf("full rerun %s took %d steps from elsewhere, want none", run.Name, n)
		}
		return nil
	})
	if err != nil {
		return resumeResult{}, resumeResult{}, fmt.Errorf("full reruns: %w", err)
	}
	logResume("full rerun", rerun)
	return resumed, rerun, nil
}

// oneByOne creates resumeRuns Runs mkRun makes, each once the one before Succeeded (and
// its asynchronous writes had time to land), checks each with check, and measures
// creation (the create call's return) to Succeeded (seen by a watch), the writes of the
// whole batch and the Jobs and Pods of its Runs.
func (cl *cluster) oneByOne(ctx context.Context, exited *exit, audit *auditLog, ns string, mkRun func(int) *aiasv1alpha1.Run, check func(int, *aiasv1alpha1.Run) error) (resumeResult, error) {
	res := resumeResult{n: resumeRuns}
	w, err := watchRuns(ctx, cl.cfg, ns, 1<<30) // done never closes on a count; Failed originals are no concern here
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
	var took []time.Duration
	var jobs, pods, cached int
	for i := range resumeRuns {
		run := mkRun(i)
		if err := cl.c.Create(ctx, run); err != nil {
			return res, err
		}
		w.created(run.Name)
		if err := cl.waitRun(ctx, exited, run); err != nil {
			return res, err
		}
		if err := waitFor(ctx, exited, time.Minute, "the watch to see "+run.Name+" Succeeded", func() (bool, error) {
			_, ok := w.seen.Load(run.Name)
			return ok, nil
		}); err != nil {
			return res, err
		}
		took = append(took, w.latency(run.Name))
		if err := check(i, run); err != nil {
			return res, err
		}
		j, p, err := cl.children(ctx, ns, run.Name)
		if err != nil {
			return res, err
		}
		jobs, pods, cached = jobs+j, pods+p, cached+cachedSteps(run)
		time.Sleep(200 * time.Millisecond) // let the Run's asynchronous writes land
	}
	if err := settle(ctx, audit); err != nil {
		return res, err
	}
	if res.writes, err = audit.since(); err != nil {
		return res, err
	}
	var sum time.Duration
	for _, d := range took {
		sum += d
	}
	res.mean = sum / time.Duration(len(took))
	slices.Sort(took)
	res.p50, res.max = took[len(took)/2], took[len(took)-1]
	n := float64(resumeRuns)
	res.jobs, res.pods, res.cached = float64(jobs)/n, float64(pods)/n, float64(cached)/n
	return res, nil
}

func logResume(label string, r resumeResult) {
	logf("%s, %d Runs one after another: creation→Succeeded p50 %v, mean %v, max %v; writes per Run %.2f all-in, %.2f AIAS; %.2f Jobs, %.2f Pods, %.2f steps from the original per Run",
		label, r.n, r.p50, r.mean, r.max, r.perRun(runCaused), r.perRun(byWriter(writerAIAS)), r.jobs, r.pods, r.cached)
	for _, k := range r.writes.keys() {
		logf("  %-26s %-40s %s per Run", k.writer, k.what, r.writes.describe(k, float64(r.n)))
	}
}

// cacheMarkdown is the "Cached steps and resume" section.
func cacheMarkdown(plain, hit cacheResult, resumed, rerun resumeResult) string {
	statusPatches := isWrite(writerAIAS, "patch runs/status")
	events := isWrite(writerAIAS, "create events (events.k8s.io)")
	writersOf := func(t writeTally, n int) string {
		per := func(w string) float64 { return t.total(byWriter(w)) / float64(n) }
		return fmt.Sprintf("bench %.2f, AIAS %.2f, scheduler %.2f, node agent %.2f, kube-controller-manager %.2f",
			per(writerBench), per(writerAIAS), per(writerScheduler), per(writerKubelet), per(writerController))
	}
	verdict := func(ok bool) string {
		if ok {
			return "**holds**"
		}
		return "**does not hold**"
	}
	rateRatio := hit.rate / plain.rate
	writeRatio := hit.allIn() / plain.allIn()

	var b strings.Builder
	b.WriteString("## Cached steps and resume (issue 24)\n\n")
	fmt.Fprintf(&b, "Its own control plane, of the Run engine section's kind (kube-apiserver + etcd, kube-controller-manager, kube-scheduler, %d Nodes with an instant node agent each, the real manager wiring). Instant node agents write no result, so every Run of a Workflow with the same input has the same cache keys: the first Run fills the cache, the ones after it hit.\n\n", benchNodes)
	fmt.Fprintf(&b, "A %d-step linear Workflow whose steps all have `cache: {ttl: 1h}` against the same %d steps without cache, %d Runs each from %d creators, every Run with the same input, each phase in its own namespace (the cache is per namespace); the cached phase's namespace first gets one warm-up Run, which runs its %d steps and fills the cache, and is not counted:\n\n",
		cacheSteps, cacheSteps, cacheRuns, engineCreators, cacheSteps)
	b.WriteString("| what | cached: every step from the cache | uncached (reference) | ratio cached ÷ uncached | goal |\n| --- | --- | --- | --- | --- |\n")
	runsPerSec := func(r cacheResult) string {
		return fmt.Sprintf("%.1f Runs/s (%.2f s; creation→Succeeded p50 %s, p99 %s)", r.rate, r.wall.Seconds(), r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, "| Runs to Succeeded, %d Runs (%d creators) | **%s** | %s | **%.2f** | ≥ 3: %s |\n",
		cacheRuns, engineCreators, runsPerSec(hit), runsPerSec(plain), rateRatio, verdict(rateRatio >= 3))
	fmt.Fprintf(&b, "| apiserver writes per Run, all writers | **%.2f**: %s | %.2f: %s | **%.3f** (1/%.1f) | ≤ 1/3: %s |\n",
		hit.allIn(), writersOf(hit.writes, hit.n), plain.allIn(), writersOf(plain.writes, plain.n), writeRatio, 1/writeRatio, verdict(writeRatio <= 1.0/3))
	fmt.Fprintf(&b, "| AIAS manager writes per Run | %.2f (Run status patches %.2f, events %.2f) | %.2f (Run status patches %.2f, events %.2f) | %.2f | — |\n",
		hit.perRun(writerAIAS), hit.writes.total(statusPatches)/float64(hit.n), hit.writes.total(events)/float64(hit.n),
		plain.perRun(writerAIAS), plain.writes.total(statusPatches)/float64(plain.n), plain.writes.total(events)/float64(plain.n), hit.perRun(writerAIAS)/plain.perRun(writerAIAS))
	fmt.Fprintf(&b, "| Jobs, Pods per Run | %.2f, %.2f | %.2f, %.2f | — | cached: none |\n", hit.jobs, hit.pods, plain.jobs, plain.pods)
	fmt.Fprintf(&b, "| steps per Run taken from the cache (status.steps[].cachedFrom) | %.2f of %d (every counted Run fully cached) | %.2f | — | — |\n\n", hit.cached, cacheSteps, plain.cached)

	var left []string
	for _, k := range hit.writes.keys() {
		if per := hit.writes.n[k] / float64(hit.n); !k.background() && per >= 0.005 {
			left = append(left, fmt.Sprintf("%s %s %.2f", k.writer, k.what, per))
		}
	}
	patches := hit.writes.total(statusPatches) / float64(hit.n)
	how := fmt.Sprintf("%.2f status patches (the frozen spec, every step taken from the cache, Succeeded)", patches)
	if patches < 1.005 {
		how = "one status patch (the frozen spec, every step taken from the cache and Succeeded, all in one write)"
	}
	fmt.Fprintf(&b, "What a fully cached Run still writes, per Run, from the audit tally below: %s — %.2f in all, against %.2f for the same Run with its %d steps run. No step attempt starts, so there is no Job, Pod, binding or Pod status write and no step token Secret (the manager makes it before a Run's first attempt); what remains is the Run itself: its create, %s, its Succeeded event and its share of the Workflow's coalesced run summary.\n\n",
		strings.Join(left, "; "), hit.allIn(), plain.allIn(), cacheSteps, how)

	timeRatio := resumed.p50.Seconds() / rerun.p50.Seconds()
	fmt.Fprintf(&b, "Resume (`spec.resumeOf`, trigger Resume) of a %d-step linear Run that failed at step %d, against a full rerun (a new Run of the same Workflow and input, all %d steps): %d originals, then their %d resumes one after another, then %d full reruns one after another, in one namespace:\n\n",
		resumeSteps, resumeFailAt, resumeSteps, resumeRuns, resumeRuns, resumeRuns)
	b.WriteString("| what | resume | full rerun (reference) | ratio resume ÷ rerun |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| creation→Succeeded, %d Runs one after another | **p50 %s**, mean %s, max %s | p50 %s, mean %s, max %s | **%.2f** (p50; mean %.2f) |\n",
		resumeRuns, resumed.p50.Round(time.Millisecond), resumed.mean.Round(time.Millisecond), resumed.max.Round(time.Millisecond),
		rerun.p50.Round(time.Millisecond), rerun.mean.Round(time.Millisecond), rerun.max.Round(time.Millisecond), timeRatio, resumed.mean.Seconds()/rerun.mean.Seconds())
	fmt.Fprintf(&b, "| apiserver writes per Run, all writers | **%.2f**: %s | %.2f: %s | **%.2f** |\n",
		resumed.perRun(runCaused), writersOf(resumed.writes, resumed.n), rerun.perRun(runCaused), writersOf(rerun.writes, rerun.n), resumed.perRun(runCaused)/rerun.perRun(runCaused))
	fmt.Fprintf(&b, "| AIAS manager writes per Run | %.2f (Run status patches %.2f, events %.2f) | %.2f (Run status patches %.2f, events %.2f) | %.2f |\n",
		resumed.perRun(byWriter(writerAIAS)), resumed.perRun(statusPatches), resumed.perRun(events),
		rerun.perRun(byWriter(writerAIAS)), rerun.perRun(statusPatches), rerun.perRun(events), resumed.perRun(byWriter(writerAIAS))/rerun.perRun(byWriter(writerAIAS)))
	fmt.Fprintf(&b, "| Jobs, Pods per Run | %.2f, %.2f | %.2f, %.2f | — |\n", resumed.jobs, resumed.pods, rerun.jobs, rerun.pods)
	fmt.Fprintf(&b, "| steps per Run taken from the original (cachedFrom) | %.2f of %d | %.2f | — |\n", resumed.cached, resumeSteps, rerun.cached)

	type column struct {
		label  string
		writes writeTally
		n      int
	}
	cols := []column{{"uncached", plain.writes, plain.n}, {"cached", hit.writes, hit.n}, {"resume", resumed.writes, resumed.n}, {"full rerun", rerun.writes, rerun.n}}
	b.WriteString("\napiserver writes per Run, by writer and resource (writes refused with 409 Conflict are counted and shown in brackets):\n\n| writer | write |")
	for _, c := range cols {
		fmt.Fprintf(&b, " %s |", c.label)
	}
	b.WriteString("\n| --- | --- |" + strings.Repeat(" ---: |", len(cols)) + "\n")
	all := writeTally{n: map[writeKey]float64{}}
	var background []string
	for _, c := range cols {
		for _, k := range c.writes.keys() {
			if k.background() {
				background = append(background, fmt.Sprintf("%s %s ×%.0f (%s)", k.writer, k.what, c.writes.n[k], c.label))
				continue
			}
			all.n[k] = 1
		}
	}
	for _, k := range all.keys() {
		fmt.Fprintf(&b, "| %s | %s |", k.writer, k.what)
		for _, c := range cols {
			b.WriteString(" " + c.writes.describe(k, float64(c.n)) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("| **all writers** | |")
	for _, c := range cols {
		fmt.Fprintf(&b, " **%.2f** |", c.writes.total(runCaused)/float64(c.n))
	}
	b.WriteString("\n")
	if len(background) == 0 {
		background = append(background, "none")
	}

	fmt.Fprintf(&b, `
What the figures mean. Runs/s is a phase's %[1]d Runs divided by the time from the first create until a watch has seen the last one Succeeded; latency is each Run's create call's return to the watch seeing it Succeeded; writes are counted from the apiserver's audit log by writer, as in the Run engine section (same window, same background rule), and the cached phase's window opens after its warm-up Run's writes settled; Jobs and Pods per Run are those of the counted Runs, divided by their number. A cached step is looked up in PostgreSQL (the step cache, keyed by the resolved step, the Run's input digest or the upstream steps' result digests, and the parameters) when the step may start; a hit copies the source attempt's artifact rows and log lines in one transaction and ends the step Succeeded in the same reconcile, so the next step is looked up at once and a fully cached Run goes from its first reconcile to Succeeded without waiting on any other writer. The counted Runs are checked: every step of every one has status.steps[].cachedFrom, and no Job or Pod was made besides the warm-up Run's. The cached phase lasts %[7]s here, so its Runs/s is a rough figure that moves between runs; its writes do not. Resume: the original Runs' step %[2]d asks to run as root (securityContext runAsUser 0) while their namespace enforces Pod Security "restricted", so admission refuses its Pod and the step fails without a Pod (the instant node agents never fail a Pod); steps 1–%[3]d Succeeded, step %[4]d was skipped. The restriction is then lifted, and each resume Run (resumeOf the original, no input of its own: it runs the original's frozen spec and input) takes steps 1–%[3]d from the original (cachedFrom, no Job) and runs steps %[2]d and %[4]d; each full rerun is a new Manual Run of the same Workflow with the original's input and runs all %[4]d. Both are created one at a time, each once the one before Succeeded plus 200 ms, on an otherwise idle engine, so their times are latencies, not throughput; the resumes go first, so the reruns run on a cluster fuller by %[5]d Runs. Background writes, not caused by Runs, are left out of the per-Run figures; this run: %[6]s.
`, cacheRuns, resumeFailAt, resumeFailAt-1, resumeSteps, resumeRuns, strings.Join(background, "; "), hit.wall.Round(10*time.Millisecond))
	return b.String()
}
