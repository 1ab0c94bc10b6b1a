// Command bench measures AIAS against ceilings taken in the same run and writes the
// figures to BENCHMARKS.md (`make bench`). Absolute numbers on a shared 2-core machine
// mean little; ratios to a ceiling measured in the same run on the same PostgreSQL or
// the same control plane do.
//
//	store.go   store and internal step API (issue 3): AIAS against raw pgx
//	engine.go  run engine (issues 4 and 12) on kube-apiserver, kube-controller-manager,
//	           kube-scheduler and the node agent: Runs/s and latency to Succeeded against
//	           the raw Run create ceiling, apiserver writes per Run by writer (audit.go,
//	           from the apiserver's audit log), manager RSS (rss.go)
//	language.go workflow language (issue 23) on a control plane of the same kind: a 20-item
//	           forEach fan-out against a 20-step linear Workflow, what a step skipped by
//	           when costs in Jobs, Pods and apiserver writes
//	cache.go   cached steps and resume (issue 24) on a control plane of the same kind: a
//	           5-step Workflow served from the step cache against the same steps run, the
//	           resume of a 10-step Run failed at step 9 against a full rerun
//	hooks.go   webhook ingress (issue 5): verified deliveries/s against raw Run creates,
//	           latency at half that rate, verification cost alone
//	runslist.go user API (issue 7): runs list first page with 100,000 runs in the index
//	           against an apiserver list of 10,000 Runs, run detail
//	noisy.go   noisy neighbour (issue 21): tenant B's p99 under tenant A's flood against
//	           B's p99 alone, the webhookserver's peak RSS
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aias-dev/aias/internal/testrig/storetest"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
	"github.com/aias-dev/aias/internal/testsuite/noisy"
)

// standardParts are the sections `make bench` measures, in the order BENCHMARKS.md has them.
var standardParts = []string{"store", "engine", "language", "cache", "hooks", "list", "node", "noisy"}

func main() {
	if code := noisy.FloodMain(); code >= 0 {
		os.Exit(code) // this process is the noisy-neighbour section's flood (internal/testsuite/noisy)
	}
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	flag.StringVar(&apiserverProfile, "apiserver-profile", "", "write a 15 s CPU profile of kube-apiserver during the first 1-step phase to this file")
	parts := flag.String("parts", strings.Join(standardParts, ","), "sections to measure ("+strings.Join(standardParts, ", ")+"); BENCHMARKS.md is written only when all are")
	flag.Func("runs", "Runs per run-engine phase, one size instead of 300 and 1000", func(v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("want a positive number, got %q", v)
		}
		engineSizes = []int{n}
		return nil
	})
	flag.IntVar(&languageRuns, "lang-runs", languageRuns, "Runs per workflow-language shape")
	flag.IntVar(&cacheRuns, "cache-runs", cacheRuns, "Runs per cached-steps phase (cached and uncached)")
	flag.IntVar(&rssRuns, "rss-runs", rssRuns, "finished Runs in the manager RSS phase (the issue's figure is 10,000)")
	flag.IntVar(&rssWorkflows, "rss-workflows", rssWorkflows, "Workflows the manager RSS phase spreads its 10,000 finished Runs over")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(strings.Split(*parts, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(parts []string) error {
	ctx := context.Background()
	started := time.Now()
	st, cleanup, err := storetest.Open(ctx, "aias_bench")
	if err != nil {
		return err
	}
	defer cleanup()
	dir, err := os.MkdirTemp("", "aias-bench-bin-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin, err := buildAias(dir)
	if err != nil {
		return err
	}
	stepBin, err := buildAiasStep(dir)
	if err != nil {
		return err
	}

	out := "# Benchmarks\n\nWritten by `make bench` (hack/bench) on " + time.Now().UTC().Format("2006-01-02") +
		". Each figure is set against a ceiling measured in the same run on the same PostgreSQL or the same control plane, so the ratio is what carries over between machines.\n"
	if slices.Contains(parts, "store") {
		rows, err := storeRows(ctx, st, stepBin)
		if err != nil {
			return err
		}
		out += "\n## Store and internal step API (issue 3)\n\n| what | AIAS | ceiling | ratio |\n| --- | --- | --- | --- |\n" + strings.Join(rows, "\n") + "\n"
		fmt.Fprintf(os.Stderr, "bench: store section done after %v\n", time.Since(started).Round(time.Second))
	}
	if slices.Contains(parts, "engine") {
		section, err := engineSection(ctx, st, bin)
		if err != nil {
			return err
		}
		out += "\n" + section
		fmt.Fprintf(os.Stderr, "bench: engine section done after %v\n", time.Since(started).Round(time.Second))
	}
	if slices.Contains(parts, "language") {
		section, err := languageSection(ctx, st)
		if err != nil {
			return err
		}
		out += "\n" + section
		fmt.Fprintf(os.Stderr, "bench: workflow language section done after %v\n", time.Since(started).Round(time.Second))
	}
	if slices.Contains(parts, "cache") {
		section, err := cacheSection(ctx, st)
		if err != nil {
			return err
		}
		out += "\n" + section
		fmt.Fprintf(os.Stderr, "bench: cached steps and resume section done after %v\n", time.Since(started).Round(time.Second))
	}
	if slices.Contains(parts, "hooks") {
		section, err := hooksSection(ctx, st)
		if err != nil {
			return err
		}
		out += "\n" + section
		fmt.Fprintf(os.Stderr, "bench: hooks section done after %v\n", time.Since(started).Round(time.Second))
	}
	if slices.Contains(parts, "list") {
		section, err := listSection(ctx, st)
		if err != nil {
			return err
		}
		out += "\n" + section
		fmt.Fprintf(os.Stderr, "bench: runs list section done after %v\n", time.Since(started).Round(time.Second))
	}
	if slices.Contains(parts, "node") {
		section, err := nodeSection(ctx)
		if err != nil {
			return err
		}
		out += "\n" + section
		fmt.Fprintf(os.Stderr, "bench: real node section done after %v\n", time.Since(started).Round(time.Second))
	}
	if slices.Contains(parts, "noisy") {
		section, err := noisySection(ctx)
		if err != nil {
			return err
		}
		out += "\n" + section
		fmt.Fprintf(os.Stderr, "bench: noisy neighbour section done after %v\n", time.Since(started).Round(time.Second))
	}
	fmt.Print(out)
	standard := true
	for _, p := range standardParts {
		standard = standard && slices.Contains(parts, p)
	}
	if !standard || flag.NFlag() > 0 && !onlyProfile() {
		fmt.Fprintln(os.Stderr, "bench: not the standard run (-parts or sizes changed); BENCHMARKS.md left as it is")
		return nil
	}
	return os.WriteFile(filepath.Join(testenv.RepoRoot(), "BENCHMARKS.md"), []byte(out), 0o644)
}

// onlyProfile: the only flag set is -cpuprofile, which changes no figure.
func onlyProfile() bool {
	only := true
	flag.Visit(func(f *flag.Flag) { only = only && (f.Name == "cpuprofile" || f.Name == "apiserver-profile") })
	return only
}

// buildAias builds the aias binary into dir: the manager is measured as the process it
// is in production.
func buildAias(dir string) (string, error) {
	bin := filepath.Join(dir, "aias")
	return bin, fixtures.BuildAias(context.Background(), bin)
}

// buildAiasStep builds the step runtime into dir: step-run is measured as step Pods run
// it, `aias-step step-run`.
func buildAiasStep(dir string) (string, error) {
	bin := filepath.Join(dir, "aias-step")
	return bin, fixtures.BuildAiasStep(context.Background(), bin)
}
