package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
)

// Cached steps on the real control plane: a second Run with the same input and
// parameters takes both steps from the first (no Job, no Pod, the same digests, the same
// logs); a different input misses the first step and, through its result, the second; a
// different parameter misses; an entry older than ttl misses; another namespace never
// sees this one's entries.
func TestRunCachedSteps(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	sh := func(name, script string, deps ...string) aiasv1alpha1.WorkflowStep {
		s := shStep(name, script, deps...)
		s.Cache = &aiasv1alpha1.StepCache{TTL: metav1.Duration{Duration: time.Hour}}
		return s
	}
	spec := aiasv1alpha1.WorkflowSpec{
		Params: []aiasv1alpha1.WorkflowParam{{Name: "flavour", Default: ptrTo("plain")}},
		Steps: []aiasv1alpha1.WorkflowStep{
			sh("compile", `echo compiling >&2; printf '{"built":%s,"at":"%s"}' "$(cat)" "$(date +%s%N)"`, []string{}...),
			sh("package", `printf '{"pkg":%s,"flavour":"%s","at":"%s"}' "$(cat)" "$AIAS_PARAM_FLAVOUR" "$(date +%s%N)"`, "compile"),
		}}
	h.workflow("build", spec)
	short := spec
	short.Steps = append([]aiasv1alpha1.WorkflowStep(nil), spec.Steps...)
	short.Steps[0].Cache = &aiasv1alpha1.StepCache{TTL: metav1.Duration{Duration: time.Second}}
	h.workflow("build-short", short)

	start := func(name, wf, input, flavour string) *aiasv1alpha1.Run {
		t.Helper()
		run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
			Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: wf}, Input: &input}}
		if flavour != "" {
			run.Spec.Params = map[string]string{"flavour": flavour}
		}
		if err := h.c.Create(h.ctx, run); err != nil {
			t.Fatal(err)
		}
		return h.waitPhaseWithin(name, aiasv1alpha1.RunSucceeded, time.Minute)
	}
	cached := func(run *aiasv1alpha1.Run) string {
		var out []string
		for _, st := range run.Status.Steps {
			from := "ran"
			if st.CachedFrom != nil {
				from = st.CachedFrom.Run + "/" + st.CachedFrom.Step
			}
			out = append(out, st.Name+"="+from)
		}
		return strings.Join(out, ",")
	}

	first := start("b-1", "build", `{"v":1}`, "")
	if got := cached(first); got != "compile=ran,package=ran" {
		t.Fatalf("first run: %s", got)
	}
	second := start("b-2", "build", `{"v":1}`, "")
	if got := cached(second); got != "compile=b-1/compile,package=b-1/package" {
		t.Errorf("same input: %s, want both from b-1", got)
	}
	if jobs := h.jobs("b-2"); len(jobs) != 0 {
		t.Errorf("a fully cached Run made Jobs %v", jobNames(jobs))
	}
	for i := range second.Status.Steps {
		if a, b := first.Status.Steps[i].OutputDigest, second.Status.Steps[i].OutputDigest; a == "" || a != b {
			t.Errorf("step %d digests %s vs %s", i, a, b)
		}
	}
	if got := stepResult(t, second, "package"); got != stepResult(t, first, "package") || got == "" {
		t.Errorf("cached result %q", got)
	}
	lines, err := testStore.ReadLogs(h.ctx, store.LogTarget{RunUID: string(second.UID), Step: "compile", Attempt: 1}, "stderr", 0, 10)
	if err != nil || len(lines) != 1 || lines[0].Line != "compiling" {
		t.Errorf("cached step's logs %+v, %v; want the source attempt's", lines, err)
	}
	if !strings.Contains(second.Status.Message, "2 from the cache") {
		t.Errorf("run message %q", second.Status.Message)
	}

	// A manager that stopped after taking a hit's outputs and before writing the step's
	// status takes it again on its next decision: the outputs are there once.
	h.stop()
	again := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "b-5", Namespace: h.ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "build"}, Input: ptrTo(`{"v":1}`)}}
	if err := h.c.Create(h.ctx, again); err != nil {
		t.Fatal(err)
	}
	src := first.Status.Steps[0]
	if err := testStore.TakeCached(h.ctx, store.CacheTarget{Namespace: h.ns, RunUID: string(again.UID), RunName: again.Name, Step: "compile"},
		store.CacheEntry{Namespace: h.ns, RunUID: string(first.UID), RunName: first.Name, Step: "compile", Attempt: int(src.Attempts), OutputDigest: src.OutputDigest}); err != nil {
		t.Fatal(err)
	}
	h.start()
	if got := cached(h.waitPhaseWithin("b-5", aiasv1alpha1.RunSucceeded, time.Minute)); got != "compile=b-1/compile,package=b-1/package" {
		t.Errorf("after a restart mid decision: %s", got)
	}
	if arts, err := testStore.ListArtifacts(h.ctx, string(again.UID)); err != nil || len(arts) != 2 {
		t.Errorf("b-5's artifacts %+v, %v: want each step's result once", arts, err)
	}

	if got := cached(start("b-3", "build", `{"v":2}`, "")); got != "compile=ran,package=ran" {
		t.Errorf("another input: %s, want both to run (package's upstream result differs)", got)
	}
	if got := cached(start("b-4", "build", `{"v":1}`, "spicy")); got != "compile=ran,package=ran" {
		t.Errorf("another parameter: %s, want both to run", got)
	}
	start("s-1", "build-short", `{"v":9}`, "")
	time.Sleep(1500 * time.Millisecond)
	if got := cached(start("s-2", "build-short", `{"v":9}`, "")); !strings.HasPrefix(got, "compile=ran,") {
		t.Errorf("past ttl: %s, want compile to run", got)
	}

	// Another tenant's namespace, the same Workflow and input: nothing from h's cache.
	other := newRunHarnessNoStart(t)
	other.startStepRuntime()
	other.start()
	other.workflow("build", spec)
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "b-1", Namespace: other.ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "build"}, Input: ptrTo(`{"v":1}`)}}
	if err := other.c.Create(other.ctx, run); err != nil {
		t.Fatal(err)
	}
	if got := cached(other.waitPhaseWithin("b-1", aiasv1alpha1.RunSucceeded, time.Minute)); got != "compile=ran,package=ran" {
		t.Errorf("another namespace: %s, want nothing from the first namespace's cache", got)
	}
}
func ptrTo[T any](v T) *T { return &v }
