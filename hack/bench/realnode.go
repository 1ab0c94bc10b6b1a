package main

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/testrig/realnode"
	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// The one-node cluster with a real kubelet, containerd and runc (internal/testrig/realnode): AIAS
// installed by its Helm chart, step Pods in real containers. The ceiling is the same work
// without AIAS: a bare Pod running the same busybox command on the same kubelet, created
// directly. What AIAS adds per Run is its Job, the init container copying /aias-step, step-run
// fetching the input and uploading the output, and the status writes.
const (
	nodeBatch    = 20 // Runs (and bare Pods) created at once for the throughput figure
	nodeLoneRuns = 5  // sequential lone Runs (and Pods) for the latency figure
	nodeRounds   = 3  // batches of each kind, for the median rate
	nodeNS       = "bench"
)

func nodeSection(ctx context.Context) (string, error) {
	c, err := realnode.Start(ctx, func(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) })
	if err != nil {
		return "", err
	}
	defer c.Stop()
	cl := c.Env.Client
	if err := cl.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: nodeNS}}); err != nil {
		return "", err
	}
	wf := &aiasv1alpha1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Namespace: nodeNS, Name: "one-step"},
		Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{
			Name: "echo", Image: realnode.BusyboxImage, Command: []string{"echo", "hello"},
		}}},
	}
	if err := realnode.Settling(func() error { return cl.Create(ctx, wf) }); err != nil {
		return "", err
	}
	// Warm up: the first Pod of each image pays containerd's first unpack.
	for _, w := range []workload{aPod, aRun} {
		if _, err := runOnce(ctx, cl, "warm", w); err != nil {
			return "", err
		}
	}
	prefix := map[workload]string{aRun: "", aPod: "", aPodWithInit: "init-"}
	lat := map[workload][]time.Duration{}
	for i := range nodeLoneRuns {
		for _, w := range []workload{aRun, aPod, aPodWithInit} {
			d, err := runOnce(ctx, cl, fmt.Sprintf("%slone-%d", prefix[w], i), w)
			if err != nil {
				return "", err
			}
			lat[w] = append(lat[w], d)
		}
	}
	// The rate of 20 at once moves by ±0.05 of the bare rate between rounds on this
	// machine (the three kinds take turns, so a slow minute hits all of them): each kind
	// runs nodeRounds batches, and its median batch counts.
	batches := map[workload][]batchResult{}
	for round := range nodeRounds {
		for _, w := range []workload{aRun, aPod, aPodWithInit} {
			b, err := batch(ctx, c.Env.Config, cl, w, round)
			if err != nil {
				return "", err
			}
			batches[w] = append(batches[w], b)
		}
	}
	rates := func(w workload) string {
		var r []string
		for _, b := range batches[w] {
			r = append(r, fmt.Sprintf("%.2f", b.rate))
		}
		return strings.Join(r, ", ")
	}
	runB, podB, initB := medianBatch(batches[aRun]), medianBatch(batches[aPod]), medianBatch(batches[aPodWithInit])
	median := func(w workload) time.Duration {
		l := slices.Clone(lat[w])
		slices.Sort(l)
		return l[len(l)/2]
	}
	rl, pl, il := median(aRun), median(aPod), median(aPodWithInit)
	return fmt.Sprintf(`## One node with a real kubelet (issues 15 and 25)

A one-node cluster: the control plane above plus kubelet and kube-proxy v%s with Debian's
containerd and runc, a CNI bridge, and AIAS installed by its Helm chart with its defaults
(manager and webhookserver as Pods at 500m CPU limit each; the step runtime's CSI driver as a
DaemonSet, so step Pods mount /aias-step as an inline volume and have no init container).
Steps run busybox `+"`echo hello`"+` in real containers. The ceiling is a bare Pod with the same
image and command, created directly on the same kubelet (no Job, no step runtime, no step API).
%d Runs (or Pods) created at once for the rate, in %d rounds of the three kinds in turn (the
median round counts; each round's rate below); the median of %d sequential ones for the
latency, creation to Succeeded. The last two rows are what the step runtime cost when an init
container installed it (--step-runtime=init-container, still the way on clusters without the
driver): a bare Pod with a no-op init container of the same image.

| what | AIAS | ceiling (bare Pod) | ratio (1 = as fast as bare) | AIAS against bare (goal) |
| --- | --- | --- | --- | --- |
| 1-step Runs/s, %d at once | %.2f/s | %.2f Pods/s | %.2f | goal ≥ 0.8 of the bare rate |
| lone Run, creation → Succeeded | %s | %s | %.2f | %.2f× (goal ≤ 1.3×) |
| bare Pod with a no-op init container, creation → Succeeded | — | %s | — | %.2f× the bare Pod |
| bare Pods with a no-op init container, %d at once | — | %.2f Pods/s | — | %.2f of the bare rate |

Rates of the rounds, in Runs or Pods per second: Runs %s; bare Pods %s; bare Pods with an
init container %s.

Where the time and the CPU of the median %d-at-once batches go (stages as a watch saw them, medians;
CPU of each process group per Run or Pod, from /proc, with reaped children; "machine" is all
of the machine's %d cores, whatever ran on them):

| phase | stages (median) | CPU per item | machine busy |
| --- | --- | --- | --- |
| %s | %s | %s | %.0f%% |
| %s | %s | %s | %.0f%% |
| %s | %s | %s | %.0f%% |
`, testenv.NodeVersion, nodeBatch, nodeRounds, nodeLoneRuns, nodeBatch, runB.rate, podB.rate, runB.rate/podB.rate,
		rl.Round(time.Millisecond), pl.Round(time.Millisecond), float64(pl)/float64(rl), float64(rl)/float64(pl),
		il.Round(time.Millisecond), float64(il)/float64(pl), nodeBatch, initB.rate, initB.rate/podB.rate,
		rates(aRun), rates(aPod), rates(aPodWithInit), nodeBatch, runtime.NumCPU(),
		aRun, runB.stages, runB.cpu, runB.busy, aPod, podB.stages, podB.cpu, podB.busy, aPodWithInit, initB.stages, initB.cpu, initB.busy), nil
}

func barePod(name string, withInit bool) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: nodeNS, Name: name},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr.To(false),
			EnableServiceLinks:           ptr.To(false),
			Containers:                   []corev1.Container{{Name: "echo", Image: realnode.BusyboxImage, Command: []string{"echo", "hello"}}},
		},
	}
	if withInit {
		pod.Spec.InitContainers = []corev1.Container{{Name: "init", Image: realnode.BusyboxImage, Command: []string{"true"}}}
	}
	return pod
}

func nodeRun(name string) *aiasv1alpha1.Run {
	return &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{Namespace: nodeNS, Name: name},
		Spec: aiasv1alpha1.RunSpec{
			WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "one-step"},
			Trigger:     &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerManual},
		},
	}
}

// workload is what the node section creates: an AIAS Run, a bare Pod, or a bare Pod
// with a no-op init container (what any design that installs a step runtime from an init
// container pays at least).
type workload int

const (
	aRun workload = iota
	aPod
	aPodWithInit
)

func (w workload) pod() bool { return w != aRun }

func (w workload) String() string {
	return [...]string{"Runs", "bare Pods", "bare Pods with an init container"}[w]
}

// runOnce creates one Run (or bare Pod) and returns how long it took to succeed.
func runOnce(ctx context.Context, cl crclient.Client, name string, w workload) (time.Duration, error) {
	return createAndWait(ctx, cl, []string{name}, w)
}

// batchResult is a batch's rate (items Succeeded per second, from the first create to
// the last success), its stage medians, its CPU per item and the machine's busy share.
type batchResult struct {
	rate   float64
	stages string
	cpu    cpuPerItem
	busy   float64 // percent of all cores
}

// batch creates nodeBatch Runs (or bare Pods) at once and measures them.
func batch(ctx context.Context, cfg *rest.Config, cl crclient.Client, w workload, round int) (batchResult, error) {
	var names []string
	for i := range nodeBatch {
		names = append(names, fmt.Sprintf("batch-%d-%d-%d", w, round, i))
	}
	tl, err := watchTimeline(ctx, cfg)
	if err != nil {
		return batchResult{}, err
	}
	cpu0, busy0 := sampleCPUOf(nodeCPUGroups, true), machineBusy()
	took, err := createAndWait(ctx, cl, names, w)
	cpu1, busy1 := sampleCPUOf(nodeCPUGroups, true), machineBusy()
	if err != nil {
		return batchResult{}, err
	}
	r := batchResult{rate: float64(nodeBatch) / took.Seconds(), stages: tl.summary(names), cpu: cpu1.since(cpu0, nodeBatch),
		busy: 100 * float64(busy1-busy0) / float64(took) / float64(runtime.NumCPU())}
	fmt.Fprintf(os.Stderr, "bench: node %s ×%d in %s: machine busy %.0f%%; CPU per item: %s; stages: %s; slowest: %s\n",
		w, nodeBatch, took.Round(time.Millisecond), r.busy, r.cpu, r.stages, tl.slowest(names))
	return r, nil
}

// medianBatch is the batch of the median rate.
func medianBatch(bs []batchResult) batchResult {
	s := slices.Clone(bs)
	slices.SortFunc(s, func(a, b batchResult) int { return cmp.Compare(a.rate, b.rate) })
	return s[len(s)/2]
}

// nodeCPUGroups are the processes of the one-node cluster, by /proc/<pid>/comm (15
// characters at most): where a batch's CPU goes.
var nodeCPUGroups = map[string]string{
	"kube-apiserver": "apiserver", "etcd": "etcd", "postgres": "postgres",
	"kubelet": "kubelet", "containerd": "containerd", "containerd-shim": "shims",
	"kube-scheduler": "scheduler", "kube-controller": "controller-manager", "kube-proxy": "kube-proxy",
	"aias": "aias (manager, webhookserver)", "aias-step": "aias-step",
}

// createAndWait creates the Runs (or bare Pods) named, one after another, and returns the
// time from the first create to the last success.
func createAndWait(ctx context.Context, cl crclient.Client, names []string, w workload) (time.Duration, error) {
	t0 := time.Now()
	for _, name := range names {
		var o crclient.Object = nodeRun(name)
		if w.pod() {
			o = barePod(name, w == aPodWithInit)
		}
		if err := cl.Create(ctx, o); err != nil {
			return 0, err
		}
	}
	if err := waitSucceeded(ctx, cl, names, w.pod()); err != nil {
		return 0, err
	}
	return time.Since(t0), nil
}

func waitSucceeded(ctx context.Context, cl crclient.Client, names []string, pod bool) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	left := slices.Clone(names)
	for len(left) > 0 {
		name := left[0]
		key := crclient.ObjectKey{Namespace: nodeNS, Name: name}
		done, failed := false, ""
		if pod {
			p := &corev1.Pod{}
			if err := cl.Get(ctx, key, p); err == nil {
				done = p.Status.Phase == corev1.PodSucceeded
				if p.Status.Phase == corev1.PodFailed {
					failed = "pod failed"
				}
			}
		} else {
			r := &aiasv1alpha1.Run{}
			if err := cl.Get(ctx, key, r); err == nil {
				done = r.Status.Phase == aiasv1alpha1.RunSucceeded
				if r.Status.Phase.Finished() && !done {
					failed = "run " + string(r.Status.Phase) + ": " + r.Status.Message
				}
			}
		}
		if failed != "" {
			return fmt.Errorf("%s %s", name, failed)
		}
		if done {
			left = left[1:]
			continue
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d of %d not Succeeded: %w", len(left), len(names), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}
