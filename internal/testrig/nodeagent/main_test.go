package nodeagent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// One control plane for the package (kube-apiserver, etcd, kube-controller-manager,
// kube-scheduler); each test runs agents of its own, each with a Node of its own, and
// pins its Pods to that Node with a nodeSelector, so tests cannot see each other's Pods
// and may run in parallel.
var (
	env  *testenv.Env
	kube kubernetes.Interface
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard()) // agents log to their test's testing.T
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	if kube, err = kubernetes.NewForConfig(env.Config); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// testAgent is an agent started for a test and stopped when it ends.
type testAgent struct {
	*Agent
	stop func() // stops it and waits for it and every process
}

// newNode names a Node for the test and deletes it when the test ends (after its agents
// have stopped, as cleanups run last-registered first).
func newNode(t *testing.T) string {
	t.Helper()
	name := strings.Trim(regexp.MustCompile(`[^a-z0-9]+`).ReplaceAllString(strings.ToLower(t.Name()), "-"), "-")
	name = fmt.Sprintf("na-%.40s-%s", name, rand.String(4))
	t.Cleanup(func() {
		_ = kube.CoreV1().Nodes().Delete(context.Background(), name, metav1.DeleteOptions{})
	})
	return name
}

// newWorkRoot is a work root every user can reach (a test's TempDir is private to root).
func newWorkRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "nodeagent-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// startAgent starts an agent on a Node of the test's own (unless configure names one)
// and waits until it is ready. Every status write the apiserver refuses fails the test.
func startAgent(t *testing.T, configure func(*Agent)) *testAgent {
	t.Helper()
	a := &Agent{Config: env.Config, WorkRoot: newWorkRoot(t), MaxGracePeriod: time.Second, Log: testr.New(t)}
	if configure != nil {
		configure(a)
	}
	if a.NodeName == "" {
		a.NodeName = newNode(t)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- a.Start(ctx) }()
	ta := &testAgent{Agent: a}
	ta.stop = sync.OnceFunc(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("agent: %v", err)
		}
		a.Stop()
		if w := a.Writes(); w.PodStatusRefused != 0 {
			t.Errorf("the apiserver refused %d status writes", w.PodStatusRefused)
		}
	})
	t.Cleanup(ta.stop)
	select {
	case <-a.Ready():
	case err := <-errc:
		t.Fatalf("agent did not start: %v", err)
	case <-time.After(15 * time.Second):
		t.Fatal("agent not ready after 15s")
	}
	return ta
}

// setUp starts a parallel test with a namespace and an agent of its own.
func setUp(t *testing.T, configure func(*Agent)) (string, *testAgent) {
	t.Helper()
	t.Parallel()
	return newNamespace(t), startAgent(t, configure)
}

// newNamespace creates a namespace and waits for its default ServiceAccount, which
// ServiceAccount admission needs before it admits a Pod.
func newNamespace(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ns, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "nodeagent-"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := kube.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			return ns.Name
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespace %s has no default ServiceAccount after 20s", ns.Name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// makePod is a Pod pinned to node whose one container runs `sh -c script`. Scripts say
// "$$$$" for the shell's "$$": Kubernetes turns "$$" in a command into "$".
func makePod(ns, node, name, script string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": "nodeagent-test"}},
		Spec: corev1.PodSpec{
			RestartPolicy:                corev1.RestartPolicyNever,
			AutomountServiceAccountToken: ptr.To(false),
			NodeSelector:                 map[string]string{corev1.LabelHostname: node},
			Containers: []corev1.Container{{
				Name:    "main",
				Image:   "example.invalid/main:1",
				Command: []string{"sh", "-c", script},
			}},
		},
	}
}

func create(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	got, err := kube.CoreV1().Pods(pod.Namespace).Create(context.Background(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// waitPod polls the Pod until ok accepts it, and returns it.
func waitPod(t *testing.T, pod *corev1.Pod, timeout time.Duration, what string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got, err := kube.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if err == nil && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			status := "gone"
			if got != nil {
				status = fmt.Sprintf("%+v", got.Status)
			}
			t.Fatalf("pod %s: not %s after %v (err %v); status: %s", pod.Name, what, timeout, err, status)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

func waitPhase(t *testing.T, pod *corev1.Pod, timeout time.Duration, phase corev1.PodPhase) *corev1.Pod {
	t.Helper()
	return waitPod(t, pod, timeout, string(phase), func(p *corev1.Pod) bool { return p.Status.Phase == phase })
}

func waitTerminal(t *testing.T, pod *corev1.Pod, timeout time.Duration) *corev1.Pod {
	t.Helper()
	return waitPod(t, pod, timeout, "terminal", isTerminal)
}

// waitDeleted waits until the Pod object is gone.
func waitDeleted(t *testing.T, pod *corev1.Pod, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	for {
		_, err := kube.CoreV1().Pods(pod.Namespace).Get(context.Background(), pod.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Since(start) > timeout {
			t.Fatalf("pod %s still exists after %v (err %v)", pod.Name, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// history records every version of a namespace's Pods as a watch delivers them: each
// status write shows as one version.
type history struct {
	mu       sync.Mutex
	versions map[string][]*corev1.Pod
}

func watchPods(t *testing.T, ns string) *history {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := kube.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h := &history{versions: map[string][]*corev1.Pod{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range w.ResultChan() {
			if pod, ok := ev.Object.(*corev1.Pod); ok && (ev.Type == watch.Added || ev.Type == watch.Modified) {
				h.mu.Lock()
				h.versions[pod.Name] = append(h.versions[pod.Name], pod)
				h.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); w.Stop(); <-done })
	return h
}

// phases are the Pod's phases in the order the watch saw them, repeats dropped.
func (h *history) phases(name string) []corev1.PodPhase {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []corev1.PodPhase
	for _, p := range h.versions[name] {
		if len(out) == 0 || out[len(out)-1] != p.Status.Phase {
			out = append(out, p.Status.Phase)
		}
	}
	return out
}

// first is the first version of the Pod in phase, or nil.
func (h *history) first(name string, phase corev1.PodPhase) *corev1.Pod {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, p := range h.versions[name] {
		if p.Status.Phase == phase {
			return p
		}
	}
	return nil
}

// last is the latest version of the Pod the watch saw, or nil.
func (h *history) last(name string) *corev1.Pod {
	h.mu.Lock()
	defer h.mu.Unlock()
	if vs := h.versions[name]; len(vs) > 0 {
		return vs[len(vs)-1]
	}
	return nil
}

// wantPhases waits for the watch to have seen the Pod end, then compares its phases.
func (h *history) wantPhases(t *testing.T, name string, want ...corev1.PodPhase) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := h.phases(name)
		if fmt.Sprint(got) == fmt.Sprint(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("pod %s went through phases %v, want %v", name, got, want)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func condition(p *corev1.Pod, ct corev1.PodConditionType) *corev1.PodCondition {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == ct {
			return &p.Status.Conditions[i]
		}
	}
	return nil
}

// wantConditions checks conditions given as "Type=Status" or "Type=Status/Reason".
func wantConditions(t *testing.T, p *corev1.Pod, want ...string) {
	t.Helper()
	for _, w := range want {
		typ, rest, _ := strings.Cut(w, "=")
		status, reason, _ := strings.Cut(rest, "/")
		c := condition(p, corev1.PodConditionType(typ))
		if c == nil || string(c.Status) != status || c.Reason != reason || c.LastTransitionTime.IsZero() {
			t.Errorf("pod %s (%s): condition %s = %+v, want status %s reason %q", p.Name, p.Status.Phase, typ, c, status, reason)
		}
	}
}

// wantAddresses checks the IPs every status write sets.
func wantAddresses(t *testing.T, p *corev1.Pod) {
	t.Helper()
	s := p.Status
	if s.StartTime == nil || s.HostIP != "127.0.0.1" || len(s.HostIPs) != 1 || s.HostIPs[0].IP != "127.0.0.1" ||
		s.PodIP != "127.0.0.1" || len(s.PodIPs) != 1 || s.PodIPs[0].IP != "127.0.0.1" {
		t.Errorf("pod %s: startTime %v, hostIP %q %v, podIP %q %v", p.Name, s.StartTime, s.HostIP, s.HostIPs, s.PodIP, s.PodIPs)
	}
}

// terminated returns the container's terminated state, failing the test without one.
func terminated(t *testing.T, statuses []corev1.ContainerStatus, name string) *corev1.ContainerStateTerminated {
	t.Helper()
	for _, s := range statuses {
		if s.Name == name {
			if s.State.Terminated == nil {
				t.Fatalf("container %s not terminated: %+v", name, s.State)
			}
			return s.State.Terminated
		}
	}
	t.Fatalf("no status for container %s in %+v", name, statuses)
	return nil
}

// waitFor polls ok for up to 5 s: the agent counts a write once its answer is back,
// which may be after a test sees the write's effect.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Errorf("not %s after 5s", what)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantStatusWrites checks that the agent made exactly n Pod status writes.
func wantStatusWrites(t *testing.T, a *Agent, n int64) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d status writes", n), func() bool { return a.Writes().PodStatus >= n })
	time.Sleep(100 * time.Millisecond) // and no more
	if got := a.Writes().PodStatus; got != n {
		t.Errorf("status writes = %d, want %d", got, n)
	}
}

// readPIDs waits for a pidfile with whitespace-separated PIDs and returns them.
func readPIDs(t *testing.T, file string, want int) []int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		raw, _ := os.ReadFile(file)
		if fields := strings.Fields(string(raw)); len(fields) >= want {
			var pids []int
			for _, f := range fields {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pidfile %s: %v", file, err)
				}
				pids = append(pids, pid)
			}
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("pidfile %s: want %d PIDs, have %q", file, want, raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive says whether pid runs. A zombie counts as dead: a process killed with its group
// is reparented to PID 1, which may take its time to reap it.
func alive(pid int) bool {
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(raw, ')'); i >= 0 && i+2 < len(raw) {
			return raw[i+2] != 'Z'
		}
	}
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func waitGone(t *testing.T, timeout time.Duration, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still alive after %v", pid, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitEmpty waits for the agent's work root to hold no pod directory.
func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var pods []string
		for _, e := range entries {
			if e.Name() != ".bin" {
				pods = append(pods, e.Name())
			}
		}
		if len(pods) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %v", dir, pods)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// sharedDir is a directory outside any pod that any user may write to, for results.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir := newWorkRoot(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}
