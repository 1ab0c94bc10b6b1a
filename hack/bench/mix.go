package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/manager"
)

// The write-mix ceiling: the writes the AIAS manager makes for a Run, made by a driver
// with no logic, no store and no reconcile loop of its own — create the Run, its token
// Secret, then per step a Job, its Pod, a Run status patch and an event, and once the
// scheduler and the node agents have run the Pod, the Job's terminal status; at the end
// the Run's final status and event. The scheduler's and node agents' writes happen as
// they do for AIAS. What this reaches is what any controller making these writes could
// reach on this control plane with everything else running: the physical bound on the
// engine's Runs/s here.

// mixConcurrency bounds the driver's requests in flight, as the Run controller's
// workers bound the manager's.
const mixConcurrency = 16

// mixCeiling runs n Runs of steps steps through the driver; the Job and Pod are shaped
// like the template Job (a real one from a phase).
func (cl *cluster) mixCeiling(ctx context.Context, audit *auditLog, ns string, steps, n int, jobTmpl *batchv1.Job) (float64, writeTally, error) {
	if err := cl.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return 0, writeTally{}, err
	}
	// The Workflow the Runs name, so that the manager, started again later, finds them
	// finished Runs of an existing Workflow and leaves them be.
	if err := cl.c.Create(ctx, benchWorkflow(ns, "wf", steps)); err != nil {
		return 0, writeTally{}, err
	}
	ended, stop, err := cl.watchPodEnds(ctx, ns)
	if err != nil {
		return 0, writeTally{}, err
	}
	defer stop()
	if err := settle(ctx, audit); err != nil {
		return 0, writeTally{}, err
	}
	if err := audit.mark(); err != nil {
		return 0, writeTally{}, err
	}
	sem := make(chan struct{}, mixConcurrency)
	call := func(f func() error) error {
		sem <- struct{}{}
		defer func() { <-sem }()
		return f()
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := cl.mixRun(ctx, ns, i, steps, jobTmpl, ended, call); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	close(errs)
	if err := <-errs; err != nil {
		return 0, writeTally{}, err
	}
	if err := settle(ctx, audit); err != nil {
		return 0, writeTally{}, err
	}
	t, err := audit.since()
	return float64(n) / took.Seconds(), t, err
}

// mixRun is one Run's writes, in the order the manager makes them.
func (cl *cluster) mixRun(ctx context.Context, ns string, i, steps int, jobTmpl *batchv1.Job, ended *podEnds, call func(func() error) error) error {
	run := benchRun(ns, "wf", i)
	if err := call(func() error { return cl.c.Create(ctx, run) }); err != nil {
		return err
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: run.Name + "-step-token",
		Labels: map[string]string{aiasv1alpha1.LabelRun: run.Name, aiasv1alpha1.LabelRunUID: string(run.UID)}},
		StringData: map[string]string{"token": "t"}}
	if err := call(func() error { return cl.c.Create(ctx, secret) }); err != nil {
		return err
	}
	for s := range steps {
		job := mixJob(jobTmpl, run, s)
		done := ended.expect(job.Name)
		if err := call(func() error { return cl.c.Create(ctx, job) }); err != nil {
			return err
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: job.Name, Namespace: ns, Labels: job.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))}},
			Spec: *job.Spec.Template.Spec.DeepCopy()}
		if err := call(func() error { return cl.c.Create(ctx, pod) }); err != nil {
			return err
		}
		phase := aiasv1alpha1.RunRunning
		if err := call(func() error { return cl.patchRunPhase(ctx, run, phase, s) }); err != nil {
			return err
		}
		if err := call(func() error { return cl.mixEvent(ctx, run, "StepStarted") }); err != nil {
			return err
		}
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(phaseTimeout):
			return fmt.Errorf("write-mix ceiling: Pod %s did not end", job.Name)
		}
		if err := call(func() error { return cl.finishJob(ctx, job) }); err != nil {
			return err
		}
	}
	if err := call(func() error { return cl.patchRunPhase(ctx, run, aiasv1alpha1.RunSucceeded, steps) }); err != nil {
		return err
	}
	return call(func() error { return cl.mixEvent(ctx, run, "Succeeded") })
}

func mixJob(tmpl *batchv1.Job, run *aiasv1alpha1.Run, step int) *batchv1.Job {
	name := fmt.Sprintf("%s-s%d-1", run.Name, step+1)
	labels := map[string]string{aiasv1alpha1.LabelRun: run.Name, aiasv1alpha1.LabelRunUID: string(run.UID),
		aiasv1alpha1.LabelStep: fmt.Sprintf("s%d", step+1), aiasv1alpha1.LabelAttempt: "1"}
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: run.Namespace, Labels: labels,
		OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(run, aiasv1alpha1.GroupVersion.WithKind("Run"))}},
		Spec: *tmpl.Spec.DeepCopy()}
	job.Spec.Selector = nil
	job.Spec.Template.Labels = labels
	job.Spec.ManagedBy = ptr.To("aias.dev/run-controller")
	return job
}

func (cl *cluster) patchRunPhase(ctx context.Context, run *aiasv1alpha1.Run, phase aiasv1alpha1.RunPhase, step int) error {
	before := run.DeepCopy()
	run.Status.Phase = phase
	run.Status.StepsSummary = fmt.Sprintf("%d", step)
	return cl.c.Status().Patch(ctx, run, crclient.MergeFrom(before))
}

func (cl *cluster) finishJob(ctx context.Context, job *batchv1.Job) error {
	now := metav1.NewTime(time.Now()).Rfc3339Copy()
	job.Status = batchv1.JobStatus{StartTime: &now, CompletionTime: &now, Succeeded: 1, Ready: ptr.To[int32](0), Terminating: ptr.To[int32](0),
		Conditions: []batchv1.JobCondition{
			{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastProbeTime: now, LastTransitionTime: now},
			{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastProbeTime: now, LastTransitionTime: now},
		}}
	return cl.c.Status().Update(ctx, job)
}

func (cl *cluster) mixEvent(ctx context.Context, run *aiasv1alpha1.Run, reason string) error {
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{Namespace: run.Namespace, Name: fmt.Sprintf("%s.%x", run.Name, mixEvents.Add(1))},
		EventTime:  metav1.NowMicro(), Type: corev1.EventTypeNormal, Reason: reason, Action: reason,
		ReportingController: "aias-bench-mix", ReportingInstance: "aias-bench-mix", Note: "step",
		Regarding: corev1.ObjectReference{APIVersion: aiasv1alpha1.GroupVersion.String(), Kind: "Run", Namespace: run.Namespace, Name: run.Name, UID: run.UID},
	}
	return cl.c.Create(ctx, ev)
}

var mixEvents atomic.Int64

// podEnds tells the driver when a Pod has ended, from one informer on the namespace.
type podEnds struct {
	mu      sync.Mutex
	waiting map[string]chan struct{}
	ended   map[string]bool
}

func (e *podEnds) expect(name string) <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	ch := make(chan struct{})
	if e.ended[name] {
		close(ch)
		return ch
	}
	e.waiting[name] = ch
	return ch
}

func (e *podEnds) see(o any) {
	pod, ok := o.(*corev1.Pod)
	if !ok || pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ended[pod.Name] {
		return
	}
	e.ended[pod.Name] = true
	if ch, ok := e.waiting[pod.Name]; ok {
		close(ch)
		delete(e.waiting, pod.Name)
	}
}

func (cl *cluster) watchPodEnds(ctx context.Context, ns string) (*podEnds, func(), error) {
	ca, err := cache.New(cl.cfg, cache.Options{Scheme: manager.NewScheme(), DefaultNamespaces: map[string]cache.Config{ns: {}}})
	if err != nil {
		return nil, nil, err
	}
	wctx, cancel := context.WithCancel(ctx)
	e := &podEnds{waiting: map[string]chan struct{}{}, ended: map[string]bool{}}
	inf, err := ca.GetInformer(wctx, &corev1.Pod{})
	if err != nil {
		cancel()
		return nil, nil, err
	}
	if _, err := inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{AddFunc: e.see, UpdateFunc: func(_, o any) { e.see(o) }}); err != nil {
		cancel()
		return nil, nil, err
	}
	go func() { _ = ca.Start(wctx) }()
	if !ca.WaitForCacheSync(wctx) {
		cancel()
		return nil, nil, fmt.Errorf("pod watch did not sync")
	}
	return e, cancel, nil
}
