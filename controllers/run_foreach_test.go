package controllers

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// podConcurrency watches the Pods of step step in the harness namespace and reports the
// most that were running at once. A single watch delivers events in resourceVersion
// order, so a Pod's end is seen before any Pod created after the controller saw it.
func (h *rtHarness) podConcurrency(step string) (peak func() int) {
	h.t.Helper()
	cs, err := kubernetes.NewForConfig(testEnv.Config)
	if err != nil {
		h.t.Fatal(err)
	}
	w, err := cs.CoreV1().Pods(h.ns).Watch(h.ctx, metav1.ListOptions{LabelSelector: aiasv1alpha1.LabelStep + "=" + step})
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(w.Stop)
	var mu sync.Mutex
	active, most := map[string]bool{}, 0
	go func() {
		for ev := range w.ResultChan() {
			pod, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			mu.Lock()
			ended := pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed || ev.Type == watch.Deleted
			if ended {
				delete(active, pod.Name)
			} else {
				active[pod.Name] = true
			}
			most = max(most, len(active))
			mu.Unlock()
		}
	}()
	return func() int { mu.Lock(); defer mu.Unlock(); return most }
}

// forEach on the real control plane and node agent: 20 items of an upstream result, 4 at
// a time, each item's value in $(item.n) and $AIAS_ITEM, the step's result the array
// of the items' results in item order, read by the next step; and an item that fails
// after its retry fails the step naming it, with no item started after it.
func TestRunForEach(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	var items []string
	for n := range 20 {
		items = append(items, fmt.Sprintf(`{"n":%d}`, n))
	}
	list := shStep("list", "printf '%s' '["+strings.Join(items, ",")+"]'", []string{}...)
	fan := shStep("square", `sleep 0.2; printf '{"sq":%d,"item":%s}' $(( $1 * $1 )) "$AIAS_ITEM"`, "list")
	fan.ForEach, fan.Parallelism, fan.Args = "steps.list.result", ptr.To[int32](4), []string{"$(item.n)"}
	sum := shStep("sum", `printf '%s' "$1"`, "square")
	sum.Args = []string{"$(steps.square.result.19.sq)"}
	h.workflow("fan", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{list, fan, sum}})

	peak := h.podConcurrency("square")
	h.run("fan-1", "fan", "")
	run := h.waitPhaseWithin("fan-1", aiasv1alpha1.RunSucceeded, 3*time.Minute)
	if got := peak(); got > 4 || got < 2 {
		t.Errorf("at most %d item Pods ran at once, want 4 (parallelism) and never more", got)
	}
	sq := run.Status.Steps[1]
	if len(sq.Items) != 20 || runengineCounts(sq.Items) != "Succeeded=20" {
		t.Fatalf("items %+v", sq.Items)
	}
	var results []struct {
		Sq   int            `json:"sq"`
		Item map[string]int `json:"item"`
	}
	if err := json.Unmarshal([]byte(stepResult(t, run, "square")), &results); err != nil || len(results) != 20 {
		t.Fatalf("result array %q: %v", stepResult(t, run, "square"), err)
	}
	for n, r := range results {
		if r.Sq != n*n || r.Item["n"] != n {
			t.Errorf("result %d = %+v, want sq %d of item %d (item order)", n, r, n*n, n)
		}
	}
	if got := stepResult(t, run, "sum"); got != "361" {
		t.Errorf("sum read %q from the result array, want 361", got)
	}
	if jobs := h.jobs("fan-1"); len(jobs) != 22 {
		t.Errorf("%d Jobs, want 22 (one per item and one per other step)", len(jobs))
	}
	if _, ok := h.jobs("fan-1")["fan-1-square.7-1"]; !ok {
		t.Errorf("no Job fan-1-square.7-1 (readable item Job names): %v", jobNames(h.jobs("fan-1")))
	}

	// An item that fails, retried once, fails the step; the items after it never start
	// (parallelism 1: the item waiting for its retry holds the one place).
	flaky := shStep("check", `[ "$1" != 2 ] || { echo "item 2 is broken" >&2; exit 3; }`, []string{}...)
	flaky.ForEach, flaky.Parallelism, flaky.Args = "[0, 1, 2, 3, 4]", ptr.To[int32](1), []string{"$(item)"}
	flaky.Retries = &aiasv1alpha1.RetryPolicy{Limit: 1}
	h.workflow("flaky", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{flaky}})
	h.run("flaky-1", "flaky", "")
	run = h.waitPhaseWithin("flaky-1", aiasv1alpha1.RunFailed, 2*time.Minute)
	check := run.Status.Steps[0]
	if it := check.Items[2]; it.Phase != aiasv1alpha1.StepFailed || it.Attempts != 2 || it.ExitCode == nil || *it.ExitCode != 3 {
		t.Errorf("item 2: %+v, want Failed after 2 attempts with exit code 3", it)
	}
	if !strings.HasPrefix(run.Status.Message, "step check failed: item 2 failed:") {
		t.Errorf("run message %q", run.Status.Message)
	}
	if skipped := check.Items[len(check.Items)-1]; skipped.Phase != aiasv1alpha1.StepSkipped || skipped.Attempts != 0 {
		t.Errorf("last item %+v, want Skipped without an attempt", skipped)
	}
}

// runengineCounts is "Phase=count,..." of items, sorted by phase name.
func runengineCounts(items []aiasv1alpha1.ItemStatus) string {
	counts := map[aiasv1alpha1.StepPhase]int{}
	for _, it := range items {
		counts[it.Phase]++
	}
	var parts []string
	for _, p := range []aiasv1alpha1.StepPhase{aiasv1alpha1.StepFailed, aiasv1alpha1.StepPending, aiasv1alpha1.StepRunning, aiasv1alpha1.StepSkipped, aiasv1alpha1.StepSucceeded} {
		if counts[p] > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", p, counts[p]))
		}
	}
	return strings.Join(parts, ",")
}

// A manager restarted in the middle of a fan-out picks the items up where they are:
// every item runs exactly once (one Job, attempt 1), and the result array is whole.
func TestRunForEachSurvivesManagerRestart(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	fan := step("fan", []string{}...)
	fan.Command = []string{"sh", "-c", `sleep 0.7; printf '%s' "$1"`, "sh"}
	fan.ForEach, fan.Parallelism, fan.Args = "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]", ptr.To[int32](3), []string{"$(item)"}
	h.workflow("fan", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{fan}})
	h.run("fan-1", "fan", "")

	h.eventually(time.Minute, "some items succeeded and some run", func() (bool, string) {
		st := h.get("fan-1").Status.Steps
		if len(st) == 0 {
			return false, "no steps yet"
		}
		c := runengineCounts(st[0].Items)
		return strings.Contains(c, "Succeeded=") && strings.Contains(c, "Running="), c
	})
	h.stop()
	time.Sleep(1500 * time.Millisecond) // items end while no manager watches
	h.start()

	run := h.waitPhaseWithin("fan-1", aiasv1alpha1.RunSucceeded, 2*time.Minute)
	if got := stepResult(t, run, "fan"); got != "[0,1,2,3,4,5,6,7,8,9]" {
		t.Errorf("result array %q", got)
	}
	jobs := h.jobs("fan-1")
	if len(jobs) != 10 {
		t.Errorf("%d Jobs, want 10 (each item once): %v", len(jobs), jobNames(jobs))
	}
	for k, it := range run.Status.Steps[0].Items {
		if it.Attempts != 1 || it.JobName != fmt.Sprintf("fan-1-fan.%d-1", k) {
			t.Errorf("item %d: %+v", k, it)
		}
	}
}
