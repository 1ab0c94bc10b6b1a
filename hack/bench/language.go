package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
)

// The workflow language (issue 23) on the Run engine section's kind of cluster and
// manager: a 20-item fan-out (one forEach step) against a 20-step linear chain — Runs/s,
// latency, apiserver writes, Jobs and Pods per Run — and what a step skipped by `when`
// costs, from Workflows that differ by that step alone. Its own control plane, so that
// the Run engine section's figures do not depend on it.

// languageRuns are the Runs per shape (-lang-runs).
var languageRuns = 50

// fanItems is the fan-out's width and the linear chain's length.
const fanItems = 20

// langShape is one Workflow the section measures.
type langShape struct {
	key, label string
	spec       aiasv1alpha1.WorkflowSpec
}

// langResult is a shape's phase with the Jobs and Pods its Runs left in the namespace.
type langResult struct {
	langShape
	phaseResult
	jobs, pods float64 // per Run
}

func (r langResult) per(keep func(writeKey) bool) float64 { return r.writes.total(keep) / float64(r.n) }

func isWrite(writer, what string) func(writeKey) bool {
	return func(k writeKey) bool { return k.writer == writer && k.what == what }
}

// langStep is a step that, on the instant node agents, succeeds at once with no result.
func langStep(name string) aiasv1alpha1.WorkflowStep {
	return aiasv1alpha1.WorkflowStep{Name: name, Image: "example.invalid/step", Command: []string{"true"}}
}

func langSpec(steps ...aiasv1alpha1.WorkflowStep) aiasv1alpha1.WorkflowSpec {
	return aiasv1alpha1.WorkflowSpec{Concurrency: &aiasv1alpha1.ConcurrencyPolicy{Policy: aiasv1alpha1.ConcurrencyAllow}, Steps: steps}
}

// languageShapes: the fan-out and its linear reference, then the skipped-step shapes and
// theirs. A step with neither dependsOn nor depends depends on the one before it.
func languageShapes() []langShape {
	items := make([]string, fanItems)
	for i := range items {
		items[i] = fmt.Sprint(i)
	}
	fan := langStep("fan")
	fan.ForEach = "[" + strings.Join(items, ",") + "]"
	skipped := langStep("b")
	skipped.When = "false"
	joined := langStep("c")
	joined.Depends = "b.Ended"
	return []langShape{
		{"linear", fmt.Sprintf("%d-step linear", fanItems), benchWorkflow("", "", fanItems).Spec},
		{"fanout", fmt.Sprintf("%d-item fan-out", fanItems), langSpec(fan)},
		{"a", "a", langSpec(langStep("a"))},
		{"ab", "a → b", langSpec(langStep("a"), langStep("b"))},
		{"askip", "a → b (when false)", langSpec(langStep("a"), skipped)},
		{"askipc", "a → b (when false) → c (depends b.Ended)", langSpec(langStep("a"), skipped, joined)},
	}
}

func languageSection(ctx context.Context, st *store.Store) (string, error) {
	if languageRuns < 1 {
		return "", fmt.Errorf("-lang-runs %d: want at least one Run per shape", languageRuns)
	}
	w, err := startWarmRig(ctx, st, "bench-lang")
	if err != nil {
		return "", err
	}
	defer w.stop()
	cl, rig, audit := w.cl, w.rig, w.audit
	var results []langResult
	for _, s := range languageShapes() {
		ns := "bench-lang-" + s.key
		p, err := cl.phaseOf(ctx, rig.exited, audit, ns, s.spec, languageRuns)
		if err != nil {
			return "", fmt.Errorf("%s, %d Runs: %w", s.label, languageRuns, err)
		}
		r := langResult{langShape: s, phaseResult: p}
		var jobs batchv1.JobList
		var pods corev1.PodList
		if err := cl.c.List(ctx, &jobs, crclient.InNamespace(ns)); err != nil {
			return "", err
		}
		if err := cl.c.List(ctx, &pods, crclient.InNamespace(ns)); err != nil {
			return "", err
		}
		r.jobs, r.pods = float64(len(jobs.Items))/float64(p.n), float64(len(pods.Items))/float64(p.n)
		logf("%s, %d Runs: Succeeded in %v: %.1f Runs/s, p50 %v, p99 %v; writes per Run: %.2f all-in, %.2f AIAS; %.2f Jobs, %.2f Pods per Run",
			s.label, p.n, p.wall.Round(time.Millisecond), p.rate, p.p50, p.p99, p.allIn(), p.perRun(writerAIAS), r.jobs, r.pods)
		logBreakdown(p)
		results = append(results, r)
	}
	return languageMarkdown(results), nil
}

// languageMarkdown is the "Workflow language" section.
func languageMarkdown(results []langResult) string {
	by := map[string]langResult{}
	for _, r := range results {
		by[r.key] = r
	}
	fan, lin := by["fanout"], by["linear"]
	a, ab, skip, skipc := by["a"], by["ab"], by["askip"], by["askipc"]
	statusPatches := isWrite(writerAIAS, "patch runs/status")
	events := isWrite(writerAIAS, "create events (events.k8s.io)")
	writersOf := func(r langResult) string {
		return fmt.Sprintf("bench %.2f, AIAS %.2f, scheduler %.2f, node agent %.2f, kube-controller-manager %.2f",
			r.perRun(writerBench), r.perRun(writerAIAS), r.perRun(writerScheduler), r.perRun(writerKubelet), r.perRun(writerController))
	}
	runsPerSec := func(r langResult) string {
		return fmt.Sprintf("%.1f Runs/s (%.1f s; creation→Succeeded p50 %s, p99 %s)", r.rate, r.wall.Seconds(), r.p50.Round(time.Millisecond), r.p99.Round(time.Millisecond))
	}

	var b strings.Builder
	b.WriteString("## Workflow language (issue 23)\n\n")
	fmt.Fprintf(&b, "Its own control plane, of the Run engine section's kind (kube-apiserver + etcd, kube-controller-manager, kube-scheduler, %d Nodes with an instant node agent each, the real manager wiring), so the Run engine figures above do not depend on it. %d Runs per shape from %d creators, one shape after the other in the order of the table below.\n\n",
		benchNodes, languageRuns, engineCreators)
	fmt.Fprintf(&b, "A %d-item fan-out (one step, `forEach` over a literal list of %d items, no parallelism limit: %d Jobs at once) against a %d-step linear chain (the same %d Jobs one after the other), the reference:\n\n", fanItems, fanItems, fanItems, fanItems, fanItems)
	fmt.Fprintf(&b, "| what | %s | %s (reference) | ratio fan-out ÷ linear |\n| --- | --- | --- | --- |\n", fan.label, lin.label)
	fmt.Fprintf(&b, "| Runs to Succeeded, %d Runs (%d creators) | **%s** | %s | **%.2f** |\n", languageRuns, engineCreators, runsPerSec(fan), runsPerSec(lin), fan.rate/lin.rate)
	fmt.Fprintf(&b, "| step Jobs to Succeeded | %.0f Jobs/s | %.0f Jobs/s | %.2f |\n", fan.rate*fan.jobs, lin.rate*lin.jobs, fan.rate*fan.jobs/(lin.rate*lin.jobs))
	fmt.Fprintf(&b, "| creation→Succeeded p50 | %s | %s | %.2f |\n", fan.p50.Round(time.Millisecond), lin.p50.Round(time.Millisecond), fan.p50.Seconds()/lin.p50.Seconds())
	fmt.Fprintf(&b, "| apiserver writes per Run, all writers | **%.2f**: %s | %.2f: %s | **%.2f** |\n", fan.allIn(), writersOf(fan), lin.allIn(), writersOf(lin), fan.allIn()/lin.allIn())
	fmt.Fprintf(&b, "| AIAS manager writes per Run | %.2f (Run status patches %.2f, events %.2f) | %.2f (Run status patches %.2f, events %.2f) | %.2f |\n",
		fan.perRun(writerAIAS), fan.per(statusPatches), fan.per(events), lin.perRun(writerAIAS), lin.per(statusPatches), lin.per(events), fan.perRun(writerAIAS)/lin.perRun(writerAIAS))
	fmt.Fprintf(&b, "| Jobs, Pods per Run | %.2f, %.2f | %.2f, %.2f | — |\n", fan.jobs, fan.pods, lin.jobs, lin.pods)
	perStep := ab.allIn() - a.allIn()
	fmt.Fprintf(&b, "| writes per Run at the price of the small shapes below: a + %d × ((a → b) − a) | %.2f | %.2f | — |\n\n", fanItems-1, a.allIn()+float64(fanItems-1)*perStep, a.allIn()+float64(fanItems-1)*perStep)

	fmt.Fprintf(&b, "A step skipped by `when: \"false\"`, from Workflows that differ by that step alone (%d Runs each):\n\n", languageRuns)
	b.WriteString("| Workflow | Runs/s | Jobs, Pods per Run | apiserver writes per Run, all writers | AIAS manager | of which Run status patches | of which events |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	for _, r := range []langResult{a, ab, skip, skipc} {
		fmt.Fprintf(&b, "| %s | %.1f | %.2f, %.2f | **%.2f** | %.2f | %.2f | %.2f |\n",
			r.label, r.rate, r.jobs, r.pods, r.allIn(), r.perRun(writerAIAS), r.per(statusPatches), r.per(events))
	}
	b.WriteString("\n| difference | Jobs, Pods per Run | apiserver writes per Run, all writers | AIAS manager | Run status patches | events | goal: no Job, no Pod, less than one write |\n| --- | --- | --- | --- | --- | --- | --- |\n")
	diff := func(label string, x, y langResult, goal bool) {
		dj, dp, dw := x.jobs-y.jobs, x.pods-y.pods, x.allIn()-y.allIn()
		verdict := "—"
		if goal {
			verdict = "**holds**"
			if dj > 0.005 || dp > 0.005 || dw >= 1 {
				verdict = "**does not hold**"
			}
		}
		fmt.Fprintf(&b, "| %s | %+.2f, %+.2f | **%+.2f** | %+.2f | %+.2f | %+.2f | %s |\n",
			label, dj, dp, dw, x.perRun(writerAIAS)-y.perRun(writerAIAS), x.per(statusPatches)-y.per(statusPatches), x.per(events)-y.per(events), verdict)
	}
	diff("a skipped last step costs: (a → b (when false)) − (a)", skip, a, true)
	diff("a skipped step in the middle costs: (a → b (when false) → c) − (a → b), the same two Jobs", skipc, ab, true)
	diff("skipping b saves: (a → b) − (a → b (when false))", ab, skip, false)

	b.WriteString("\napiserver writes per Run, by writer and resource (writes refused with 409 Conflict are counted and shown in brackets):\n\n| writer | write |")
	for _, r := range results {
		fmt.Fprintf(&b, " %s |", r.label)
	}
	b.WriteString("\n| --- | --- |" + strings.Repeat(" ---: |", len(results)) + "\n")
	all := writeTally{n: map[writeKey]float64{}}
	var background []string
	for _, r := range results {
		for _, k := range r.writes.keys() {
			if k.background() {
				background = append(background, fmt.Sprintf("%s %s ×%.0f (%s)", k.writer, k.what, r.writes.n[k], r.label))
				continue
			}
			all.n[k] = 1
		}
	}
	for _, k := range all.keys() {
		fmt.Fprintf(&b, "| %s | %s |", k.writer, k.what)
		for _, r := range results {
			b.WriteString(" " + r.writes.describe(k, float64(r.n)) + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("| **all writers** | |")
	for _, r := range results {
		fmt.Fprintf(&b, " **%.2f** |", r.allIn())
	}
	b.WriteString("\n")
	if len(background) == 0 {
		background = append(background, "none")
	}

	fmt.Fprintf(&b, `
What the figures mean. Runs/s is the shape's N Runs divided by the time from the first create until a watch has seen the last one Succeeded; latency is each Run's create call's return to the watch seeing it Succeeded; writes are counted from the apiserver's audit log by writer, as in the Run engine section (same window, same background rule); Jobs and Pods per Run are those left in the shape's namespace once its Runs Succeeded, divided by N. Both wide shapes run %[1]d step Jobs per Run on instant node agents, so their Runs/s ratio is the price of running the same Jobs as one fan-out rather than as a chain (a fan-out's Jobs all start at once; a chain's start one after the other, each after a reconcile of the step before), and their writes-per-Run ratio says whether a forEach item costs what a step does. A chain writes the Run's status once per step (the step before ended, the next started); a fan-out writes it when its items start and whenever a reconcile finds items ended since the last one, and the Run's work queue folds Pod ends that arrive while the Run waits into one reconcile: on instant node agents a Run's Pods end moments apart, so the figure here is the fewest such writes, and steps of differing lengths add up to one per item. The last row of the first table is what %[1]d Jobs would take at the price per step of the small shapes (a 1-step Run plus %[2]d times what the second step of a → b adds): a figure above it is a cost of the width itself. A skipped step's cost is the difference between a Workflow with it and the same Workflow without it (a skipped last step: a → b (when false) against a alone; a skipped step in the middle: a → b (when false) → c, where c joins on b.Ended, against a → b, which runs the same two Jobs); the goal holds when the difference is no Job, no Pod and less than one write per Run, i.e. the skip rides on a Run status write that happens anyway. The small shapes' Runs/s are taken over one to three seconds each and compare nothing; their writes and Jobs do. The shapes share one manager and one cluster and leave their objects behind, so a later shape runs on a fuller cluster; with %[3]d Runs per shape, differences of a few hundredths of a write are the coalesced Workflow summary patches, not the shape. Background writes, not caused by Runs, are left out of the per-Run figures; this run: %[4]s.
`, fanItems, fanItems-1, languageRuns, strings.Join(background, "; "))
	return b.String()
}
