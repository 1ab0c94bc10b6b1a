package controllers

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
)

// rtHarness is one Run-controller test: its own namespace and its own manager running
// the real RunReconciler against envtest and the package's PostgreSQL store. Tests play
// kubelet themselves (rtFinishJob) unless they start the dev kubelet.
type rtHarness struct {
	t      *testing.T
	ctx    context.Context
	ns     string
	c      client.Client
	tokens *steptoken.Issuer
	apiURL string // the internal API step pods are told about
	stop   func()
}

func newRunHarness(t *testing.T, extra ...func(ctrl.Manager) error) *rtHarness {
	t.Helper()
	h := newRunHarnessNoStart(t)
	h.start(extra...)
	return h
}

// newRunHarnessNoStart prepares the namespace and token key; the test starts the manager.
func newRunHarnessNoStart(t *testing.T) *rtHarness {
	t.Helper()
	ctx := context.Background()
	h := &rtHarness{t: t, ctx: ctx, c: testEnv.Client, ns: fmt.Sprintf("rt-%s-%d", strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))[:min(len(t.Name()), 30)], time.Now().UnixNano()%100000)}
	h.ns = strings.Trim(strings.ReplaceAll(h.ns, "_", "-"), "-")
	if err := h.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}}); err != nil {
		t.Fatal(err)
	}
	h.tokens, _ = steptoken.NewIssuer(bytes.Repeat([]byte("k"), 32))
	h.apiURL = "http://internal.test:8082"
	return h
}

// start runs a fresh manager (a "restart" when called again after stop).
func (h *rtHarness) start(extra ...func(ctrl.Manager) error) { h.startWith(nil, extra...) }

// startWith is start with the manager's options adjusted by tweak.
func (h *rtHarness) startWith(tweak func(*ctrl.Options), extra ...func(ctrl.Manager) error) {
	h.t.Helper()
	_, h.stop = startTestManager(h.t, func(o *ctrl.Options) {
		o.Client = client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
		// As the manager caches step Pods: what the controller reads of them must survive.
		o.Cache.ByObject = map[client.Object]cache.ByObject{&corev1.Pod{}: {Transform: StepPodTransform}}
		if tweak != nil {
			tweak(o)
		}
	}, func(ctx context.Context, mgr manager.Manager) error {
		if err := SetupIndexes(ctx, mgr); err != nil {
			return err
		}
		r := &RunReconciler{
			Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Recorder: mgr.GetEventRecorder("aias-run"),
			Store: testStore, Tokens: h.tokens, RunnerImage: "aias-runner:test", InternalAPIURL: h.apiURL,
			QueueRecheck: 2 * time.Second, WorkflowGrace: 2 * time.Second,
		}
		if err := r.SetupWithManager(mgr); err != nil {
			return err
		}
		for _, e := range extra {
			if err := e(mgr); err != nil {
				return err
			}
		}
		return nil
	})
}

// tenantOnPlan makes the harness namespace a Tenant on a new Plan with these limits
// (both deleted when the test ends) and gives the manager's cache a moment to see them.
func (h *rtHarness) tenantOnPlan(suffix string, limits aiasv1alpha1.PlanLimits) (*aiasv1alpha1.Tenant, *aiasv1alpha1.Plan) {
	h.t.Helper()
	plan := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: h.ns + "-" + suffix}, Spec: aiasv1alpha1.PlanSpec{Limits: limits}}
	tenant := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: h.ns}, Spec: aiasv1alpha1.TenantSpec{Plan: plan.Name}}
	for _, o := range []client.Object{plan, tenant} {
		if err := h.c.Create(h.ctx, o); err != nil {
			h.t.Fatal(err)
		}
	}
	h.t.Cleanup(func() { _ = h.c.Delete(h.ctx, tenant); _ = h.c.Delete(h.ctx, plan) })
	time.Sleep(300 * time.Millisecond) // the manager's cache has the Tenant and the Plan
	return tenant, plan
}

func (h *rtHarness) workflow(name string, spec aiasv1alpha1.WorkflowSpec) *aiasv1alpha1.Workflow {
	h.t.Helper()
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns}, Spec: spec}
	if err := h.c.Create(h.ctx, wf); err != nil {
		h.t.Fatal(err)
	}
	return wf
}

func (h *rtHarness) run(name, workflow string, input string) *aiasv1alpha1.Run {
	h.t.Helper()
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: workflow}}}
	if input != "" {
		run.Spec.Input = &input
	}
	if err := h.c.Create(h.ctx, run); err != nil {
		h.t.Fatal(err)
	}
	return run
}

func (h *rtHarness) get(name string) *aiasv1alpha1.Run {
	h.t.Helper()
	run := &aiasv1alpha1.Run{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, run); err != nil {
		h.t.Fatal(err)
	}
	return run
}

// eventually polls cond until it holds or the timeout passes; what describes the last
// state seen, for the failure message.
func (h *rtHarness) eventually(timeout time.Duration, what string, cond func() (bool, string)) {
	h.t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for time.Now().Before(deadline) {
		ok, state := cond()
		if ok {
			return
		}
		last = state
		time.Sleep(50 * time.Millisecond)
	}
	h.t.Fatalf("timed out waiting for %s; last state: %s", what, last)
}

func (h *rtHarness) waitPhase(name string, phase aiasv1alpha1.RunPhase) *aiasv1alpha1.Run {
	h.t.Helper()
	return h.waitPhaseWithin(name, phase, 20*time.Second)
}

func (h *rtHarness) waitPhaseWithin(name string, phase aiasv1alpha1.RunPhase, timeout time.Duration) *aiasv1alpha1.Run {
	h.t.Helper()
	var run *aiasv1alpha1.Run
	h.eventually(timeout, fmt.Sprintf("run %s to be %s", name, phase), func() (bool, string) {
		run = h.get(name)
		return run.Status.Phase == phase, fmt.Sprintf("phase %q message %q steps %s", run.Status.Phase, run.Status.Message, stepPhases(run))
	})
	return run
}

func stepPhases(run *aiasv1alpha1.Run) string {
	var parts []string
	for _, s := range run.Status.Steps {
		parts = append(parts, fmt.Sprintf("%s=%s/%d", s.Name, s.Phase, s.Attempts))
	}
	return strings.Join(parts, ",")
}

// jobs returns the Run's step Jobs by name.
func (h *rtHarness) jobs(run string) map[string]*batchv1.Job {
	h.t.Helper()
	var list batchv1.JobList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns), client.MatchingLabels{aiasv1alpha1.LabelRun: run}); err != nil {
		h.t.Fatal(err)
	}
	m := map[string]*batchv1.Job{}
	for i := range list.Items {
		m[list.Items[i].Name] = &list.Items[i]
	}
	return m
}

func jobNames(m map[string]*batchv1.Job) []string {
	var names []string
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// waitJobs waits until the Run has exactly the named Jobs.
func (h *rtHarness) waitJobs(run string, want ...string) map[string]*batchv1.Job {
	h.t.Helper()
	sort.Strings(want)
	var got map[string]*batchv1.Job
	h.eventually(20*time.Second, fmt.Sprintf("jobs %v", want), func() (bool, string) {
		got = h.jobs(run)
		return strings.Join(jobNames(got), ",") == strings.Join(want, ","), strings.Join(jobNames(got), ",")
	})
	return got
}

// finishJob plays step-run and kubelet for one attempt: it records the outcome and a
// result artifact in the store as step-run would, then writes the terminal status of the
// attempt's Pod the way a kubelet does.
func (h *rtHarness) finishJob(runName, jobName string, exitCode int, result string) {
	h.t.Helper()
	job := &batchv1.Job{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: jobName}, job); err != nil {
		h.t.Fatal(err)
	}
	run := h.get(runName)
	step, attempt := job.Labels[aiasv1alpha1.LabelStep], 0
	fmt.Sscan(job.Labels[aiasv1alpha1.LabelAttempt], &attempt)
	if result != "" {
		key := store.ArtifactKey{Namespace: h.ns, RunName: runName, RunUID: string(run.UID), Step: step, Attempt: attempt, Name: "result"}
		if _, err := testStore.PutArtifact(h.ctx, key, "application/json", strings.NewReader(result), 0, ""); err != nil {
			h.t.Fatal(err)
		}
	}
	msg := ""
	if exitCode != 0 {
		msg = fmt.Sprintf("command exited with code %d", exitCode)
	}
	if err := testStore.RecordStepOutcome(h.ctx, string(run.UID), step, attempt, store.StepOutcome{ExitCode: exitCode, Message: msg}); err != nil {
		h.t.Fatal(err)
	}
	h.endPod(jobName, int32(exitCode), "")
}

// endPod writes the terminal status a kubelet writes when the attempt's Pod ends: the
// step container terminated with exitCode, or, with reason DeadlineExceeded, the Pod
// stopped at its activeDeadlineSeconds.
func (h *rtHarness) endPod(name string, exitCode int32, reason string) {
	h.t.Helper()
	h.setPodStatus(name, func(pod *corev1.Pod) { endedPodStatus(pod, exitCode, reason) })
}

// setPodStatus writes a Pod's status as the kubelet or scheduler would (on conflict
// with the scheduler's binding, read again).
func (h *rtHarness) setPodStatus(name string, set func(*corev1.Pod)) {
	h.t.Helper()
	pod := &corev1.Pod{}
	h.eventually(20*time.Second, "pod "+name, func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, pod)
		return err == nil, ""
	})
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: name}, pod); err != nil {
			return err
		}
		set(pod)
		return h.c.Status().Update(h.ctx, pod)
	}); err != nil {
		h.t.Fatalf("writing pod status: %v", err)
	}
}

// endedPodStatus sets the status a kubelet writes when the Pod ends (see endPod).
func endedPodStatus(pod *corev1.Pod, exitCode int32, reason string) {
	now := metav1.Now()
	start := metav1.NewTime(now.Add(-time.Second))
	pod.Status.StartTime = &start
	pod.Status.Phase = corev1.PodSucceeded
	if exitCode != 0 || reason != "" {
		pod.Status.Phase = corev1.PodFailed
	}
	if reason == "DeadlineExceeded" {
		pod.Status.Reason, pod.Status.Message = reason, "Pod was active on the node longer than the specified deadline"
		exitCode = 137
	}
	termReason := "Completed"
	switch {
	case reason == "OOMKilled":
		termReason = reason
	case exitCode != 0:
		termReason = "Error"
	}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: stepjob.StepContainer, Image: pod.Spec.Containers[0].Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, Reason: termReason, StartedAt: start, FinishedAt: now}},
	}}
}

// events lists the reasons of the events recorded about a Run, oldest first.
func (h *rtHarness) eventReasons(run string) []string {
	h.t.Helper()
	var list corev1.EventList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].CreationTimestamp.Before(&list.Items[j].CreationTimestamp) })
	var reasons []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == run {
			reasons = append(reasons, e.Reason)
		}
	}
	return reasons
}

func isNotFound(err error) bool { return apierrors.IsNotFound(err) }

type metav1Duration = metav1.Duration
