package controllers

import (
	"context"
	"fmt"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sync"
	"time"

	"golang.org/x/time/rate"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/events"
	"k8s.io/client-go/util/workqueue"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
)

// RunReconciler turns a Run into one Job per step attempt and reports the story in the
// Run's status: it freezes the Workflow spec the Run starts with, admits the Run under
// the Workflow's concurrency policy, schedules steps as a DAG, retries failed attempts
// with backoff, enforces timeouts and cancellation, and cleans up the store on delete.
type RunReconciler struct {
	client.Client
	// APIReader reads straight from the apiserver, to tell a Job that was deleted from
	// one the cache has not seen yet.
	APIReader client.Reader
	Scheme    *runtime.Scheme
	Recorder  events.EventRecorder
	Store     *store.Store
	Tokens    *steptoken.Issuer
	// RunnerImage is the image holding the step runtime (/aias-step), copied into every step pod.
	RunnerImage string
	// StepRuntime is how a step Pod gets the step runtime: StepRuntimeInitContainer (the
	// default; works on any cluster) or StepRuntimeCSI (the step-runtime.aias.dev CSI
	// driver's inline volume; no init container, a faster start).
	StepRuntime StepRuntime
	// InternalAPIURL is how step pods reach the internal step API.
	InternalAPIURL string
	// DefaultPlan and PastDueGrace resolve a tenant's effective plan the way the Tenant
	// controller does (see internal/entitlements).
	DefaultPlan  string
	PastDueGrace time.Duration
	// MaxConcurrentReconciles is how many Runs are reconciled at once (default 16): a
	// reconcile mostly waits on the apiserver and PostgreSQL, one Run at a time would cap
	// throughput at a few dozen Runs a second.
	MaxConcurrentReconciles int
	// WorkflowGrace is how long a Run waits for a missing Workflow before it fails.
	WorkflowGrace time.Duration
	// ImagePullTimeout and SchedulingTimeout bound a step Pod's wait for its images and
	// for a node when neither the step nor its Workflow says (default
	// DefaultImagePullTimeout, DefaultSchedulingTimeout).
	ImagePullTimeout, SchedulingTimeout time.Duration
	// QueueRecheck is how often a Queued Run looks for a free slot even when no
	// event woke it (a safety net; finishing Runs wake the queue directly).
	QueueRecheck time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// What outlives a reconcile; what one reconcile holds is in its runScope.
	specs    specCache
	indexed  sync.Map // Run UID → the store.RunRecord this process last wrote for it
	children childTracker
}

// +kubebuilder:rbac:groups=aias.dev,resources=runs,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=aias.dev,resources=runs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=aias.dev,resources=runs/finalizers,verbs=update
// +kubebuilder:rbac:groups=aias.dev,resources=workflows,verbs=get;list;watch
// +kubebuilder:rbac:groups=aias.dev,resources=tenants;plans,verbs=get;list;watch
// +kubebuilder:rbac:groups=batch,resources=jobs,verbs=get;list;watch;create;delete
// +kubebuilder:rbac:groups=batch,resources=jobs/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=batch,resources=jobs/finalizers,verbs=update
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete
// The Run's finalizer deletes its step-token Secret (reconcileDelete): without delete the
// finalizer never finished on a real cluster and deleted Runs stayed Terminating.
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create;delete

// Reconcile is fetch → delete or finalizer → a per-reconcile scope → deferred status
// patch → phase functions; the running Run's decisions come from internal/runengine.
func (r *RunReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, err error) {
	run := &aiasv1alpha1.Run{}
	if err := r.Get(ctx, req.NamespacedName, run); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !run.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, r.reconcileDelete(ctx, run)
	}
	if !controllerutil.ContainsFinalizer(run, aiasv1alpha1.RunFinalizer) {
		// Nothing happens before the finalizer is on; then the reconcile goes on with the
		// patched Run (no round trip through the watch for it).
		patch := client.MergeFromWithOptions(run.DeepCopy(), client.MergeFromWithOptimisticLock{})
		controllerutil.AddFinalizer(run, aiasv1alpha1.RunFinalizer)
		if err := r.Patch(ctx, run, patch); err != nil {
			return ctrl.Result{}, err
		}
	}

	// Everything this reconcile decides lives in its scope, and reaches the apiserver in
	// one status write at the end; what it tells users and Prometheus waits for that write.
	s := newRunScope(run, r.Recorder)
	before := run.DeepCopy()
	defer func() { r.writeStatus(ctx, s, before, &result, &err) }()

	if run.Status.Phase.Finished() {
		return ctrl.Result{}, r.reconcileFinished(ctx, s)
	}
	if run.Status.Phase == "" {
		run.Status.Phase = aiasv1alpha1.RunPending
	}
	if run.Spec.Cancel && (run.Status.StartTime == nil || !runengine.AnyAttemptStarted(run.Status.Steps)) {
		// Nothing ran: no finally step has anything to report or clean up.
		return ctrl.Result{}, r.finish(ctx, s, runengine.Canceled(""))
	}
	// The tenant's plan matters until the Run starts: the frozen spec takes its step
	// timeout bound and admission its limits. Resolved once for both.
	var tp *entitlements.Entitlement
	notStarted := run.Status.Phase == aiasv1alpha1.RunPending || run.Status.Phase == aiasv1alpha1.RunQueued
	if notStarted {
		if tp, err = r.scopePlan(ctx, s); err != nil {
			return ctrl.Result{}, err
		}
	}
	spec, wait, err := r.freeze(ctx, s, tp)
	if err != nil || spec == nil {
		return ctrl.Result{RequeueAfter: wait}, err
	}
	s.spec, s.mainSteps = spec.RunSteps()
	if run.Spec.Cancel {
		// Without finally steps, or with them already running (a cancel then stops them
		// too), the Run ends now.
		if s.mainSteps == len(s.spec.Steps) || run.Status.Stopping == nil && runengine.AllEnded(run.Status.Steps[:s.mainSteps]) {
			return ctrl.Result{}, r.finish(ctx, s, runengine.Canceled(""))
		}
		if run.Status.Stopping == nil {
			f := runengine.Canceled(run.Annotations[aiasv1alpha1.AnnotationSupersededBy])
			if err := r.stop(ctx, s, &aiasv1alpha1.RunStop{Reason: f.Reason, Message: f.Message, Time: metav1.NewTime(r.Now())}); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if notStarted {
		admitted, res, err := r.admit(ctx, s, tp)
		if err != nil || !admitted {
			return res, err
		}
	}
	return r.advance(ctx, s)
}

// SetupWithManager watches Runs, the Jobs they own, the Workflows they wait for, and
// finishing Runs to wake the Runs queued behind them.
func (r *RunReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.MaxConcurrentReconciles == 0 {
		r.MaxConcurrentReconciles = 16
	}
	if r.WorkflowGrace == 0 {
		r.WorkflowGrace = 10 * time.Second
	}
	if r.QueueRecheck == 0 {
		r.QueueRecheck = 30 * time.Second
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	registerRunMetrics(mgr.GetCache())
	return ctrl.NewControllerManagedBy(mgr).
		Named("run").
		// A Run's status is this controller's own: its writes need no reconcile of their
		// own. Creation, spec changes (cancel) and deletion (which bumps the generation of
		// an object with finalizers) do.
		For(&aiasv1alpha1.Run{}, builder.WithPredicates(predicate.Or[client.Object](predicate.GenerationChangedPredicate{}, approvalDecided))).
		// The Run's own status writes follow each Job status write, so Job updates tell
		// nothing new; a Job's deletion (by a user, or the GC) does.
		Owns(&batchv1.Job{}, builder.WithPredicates(jobDeleted)).
		// Pods are the Jobs' (not the Run's): mapped by their aias.dev/run label, and only
		// when one ends or goes away.
		Watches(&corev1.Pod{}, handler.EnqueueRequestsFromMapFunc(runOfPod), builder.WithPredicates(podEndedOrGone)).
		// Only a Workflow's appearance wakes Runs waiting for it; its status updates do not.
		Watches(&aiasv1alpha1.Workflow{}, handler.EnqueueRequestsFromMapFunc(r.runsWaitingForWorkflow),
			builder.WithPredicates(predicate.Funcs{UpdateFunc: func(event.UpdateEvent) bool { return false }})).
		Watches(&aiasv1alpha1.Run{}, handler.EnqueueRequestsFromMapFunc(r.runsQueuedBehind), builder.WithPredicates(slotMayHaveFreed)).
		// A child Run's end wakes its parent's workflowRef step.
		Watches(&aiasv1alpha1.Run{}, handler.EnqueueRequestForOwner(mgr.GetScheme(), mgr.GetRESTMapper(), &aiasv1alpha1.Run{}, handler.OnlyControllerOwner()),
			builder.WithPredicates(childEnded)).
		WithOptions(controller.Options{MaxConcurrentReconciles: r.MaxConcurrentReconciles, RateLimiter: retryLimiter()}).
		Complete(r)
}

// maxRetryDelay caps the wait before a Run whose reconcile failed is tried again.
// controller-runtime's default doubles it from 5 ms up to 1000 s, so it grows with the
// outage that makes reconciles fail: a Run created while PostgreSQL is down for 30 s
// is next tried up to 20 s after the database is back (measured: 11 s,
// internal/testsuite/outage), after a 10-minute outage up to 5 minutes after.
const maxRetryDelay = 10 * time.Second

// retryLimiter is controller-runtime's default rate limiter (per-Run exponential
// backoff from 5 ms, and a bucket of 10 retries per second, burst 100, over all Runs)
// with the backoff capped at maxRetryDelay.
func retryLimiter() workqueue.TypedRateLimiter[reconcile.Request] {
	return workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[reconcile.Request](5*time.Millisecond, maxRetryDelay),
		&workqueue.TypedBucketRateLimiter[reconcile.Request]{Limiter: rate.NewLimiter(rate.Limit(10), 100)},
	)
}

// runOfPod maps a step Pod to its Run.
func runOfPod(_ context.Context, o client.Object) []reconcile.Request {
	run := o.GetLabels()[aiasv1alpha1.LabelRun]
	if run == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: clientKey(o.GetNamespace(), run)}}
}

// podEndedOrGone passes the Pod events a Run acts on: the Pod reached Succeeded or
// Failed, was deleted, or started or stopped waiting on something (an image, a node, a
// container the kubelet cannot create: podStall). Its binding and start change nothing
// for the Run.
var podEndedOrGone = predicate.Funcs{
	CreateFunc:  func(e event.CreateEvent) bool { return isEndedPod(e.Object) },
	GenericFunc: func(event.GenericEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	UpdateFunc: func(e event.UpdateEvent) bool {
		if isEndedPod(e.ObjectNew) {
			return !isEndedPod(e.ObjectOld)
		}
		old, okOld := e.ObjectOld.(*corev1.Pod)
		pod, okNew := e.ObjectNew.(*corev1.Pod)
		return okOld && okNew && stallKey(old) != stallKey(pod)
	},
}

func isEndedPod(o client.Object) bool {
	pod, ok := o.(*corev1.Pod)
	return ok && podEnded(pod)
}

// jobDeleted passes a step Job's deletion only.
var jobDeleted = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	UpdateFunc:  func(event.UpdateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
}

// runsWaitingForWorkflow wakes Runs that have not frozen their spec yet when their
// Workflow appears.
func (r *RunReconciler) runsWaitingForWorkflow(ctx context.Context, o client.Object) []reconcile.Request {
	runs, err := waitingRunsOfWorkflow(ctx, r.Client, o.GetNamespace(), o.GetName())
	if err != nil {
		log.FromContext(ctx).Error(err, "listing runs of workflow", "workflow", o.GetName())
		return nil
	}
	var reqs []reconcile.Request
	for _, run := range runs {
		if run.Status.SpecDigest == "" {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&run)})
		}
	}
	return reqs
}

// runsQueuedBehind wakes the queued Runs of a Workflow when one of its Runs finishes or
// goes away (a slot is free) or starts (the next in line may now take a free slot), so
// the queue moves at once rather than at the next recheck.
func (r *RunReconciler) runsQueuedBehind(ctx context.Context, o client.Object) []reconcile.Request {
	run := o.(*aiasv1alpha1.Run)
	// Every Workflow of the namespace: a tenant-wide concurrency limit may hold Runs of
	// other Workflows back too.
	runs, err := waitingRunsOfWorkflow(ctx, r.Client, run.Namespace, anyWorkflow)
	if err != nil {
		return nil
	}
	var reqs []reconcile.Request
	for _, q := range runs {
		if q.Status.Phase == aiasv1alpha1.RunQueued {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&q)})
		}
	}
	return reqs
}

// slotMayHaveFreed passes the Run events after which a queued sibling may start: a Run
// started, waits at an approval gate, finished or went away. Creations (also the initial list at startup) and
// step progress do not free a slot.
var slotMayHaveFreed = predicate.Funcs{
	CreateFunc:  func(event.CreateEvent) bool { return false },
	GenericFunc: func(event.GenericEvent) bool { return false },
	DeleteFunc:  func(event.DeleteEvent) bool { return true },
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, n := e.ObjectOld.(*aiasv1alpha1.Run), e.ObjectNew.(*aiasv1alpha1.Run)
		started := n.Status.Phase == aiasv1alpha1.RunRunning && o.Status.Phase != aiasv1alpha1.RunRunning
		waits := n.Status.Phase == aiasv1alpha1.RunWaiting && o.Status.Phase != aiasv1alpha1.RunWaiting // its slot went back
		return started || waits || (n.Status.Phase.Finished() && !o.Status.Phase.Finished()) || (!n.DeletionTimestamp.IsZero() && o.DeletionTimestamp.IsZero())
	},
}

func (r *RunReconciler) index(ctx context.Context, run *aiasv1alpha1.Run) error {
	rec := store.RunRecord{
		UID: string(run.UID), Namespace: run.Namespace, Name: run.Name, Workflow: run.Spec.WorkflowRef.Name,
		Phase: string(run.Status.Phase), InputDigest: run.Status.InputDigest, SpecDigest: run.Status.SpecDigest, CreatedAt: run.CreationTimestamp.Time,
	}
	if t := run.Spec.Trigger; t != nil {
		rec.Trigger, rec.Endpoint = string(t.Type), t.Endpoint
	}
	if rec.Trigger == "" {
		rec.Trigger = string(aiasv1alpha1.TriggerManual)
	}
	if run.Status.StartTime != nil {
		rec.StartedAt = &run.Status.StartTime.Time
	}
	if run.Status.CompletionTime != nil {
		rec.FinishedAt = &run.Status.CompletionTime.Time
	}
	if last, ok := r.indexed.Load(run.UID); ok && sameRecord(last.(store.RunRecord), rec) {
		return nil // this process wrote exactly this already
	}
	if err := r.Store.UpsertRun(ctx, rec); err != nil {
		return fmt.Errorf("indexing run: %w", err)
	}
	if run.Status.Phase.Finished() {
		r.indexed.Delete(run.UID) // nothing more to skip for it
	} else {
		r.indexed.Store(run.UID, rec)
	}
	return nil
}

// sameRecord compares run-index rows by value (the times are pointers).
func sameRecord(a, b store.RunRecord) bool {
	sameTime := func(x, y *time.Time) bool { return (x == nil) == (y == nil) && (x == nil || x.Equal(*y)) }
	ta, fa, tb, fb := a.StartedAt, a.FinishedAt, b.StartedAt, b.FinishedAt
	a.StartedAt, a.FinishedAt, b.StartedAt, b.FinishedAt = nil, nil, nil, nil
	a.CreatedAt, b.CreatedAt = a.CreatedAt.UTC(), b.CreatedAt.UTC()
	return a == b && sameTime(ta, tb) && sameTime(fa, fb)
}
