package controllers

import (
	"context"
	"errors"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// DefaultWorkflowNotReadyRequeue is how often a Workflow that is not Ready is checked again.
//
// Readiness depends on ServiceAccounts, Secrets and ConfigMaps that the controller reads
// with direct GETs instead of watching: a watch (even metadata-only) would cache every
// Secret of the cluster in the manager and needs cluster-wide list/watch on Secrets, and a
// metadata-only watch could not see whether a key exists anyway. Polling only the broken
// Workflows once a minute costs a handful of GETs and keeps RBAC at `get`.
const DefaultWorkflowNotReadyRequeue = time.Minute

// WorkflowEventRecorderName is the reporting controller of the Workflow controller's events.
const WorkflowEventRecorderName = "aias-workflow-controller"

// WorkflowReconciler reports whether a Workflow is usable, summarizes its Runs, and
// deletes finished Runs beyond its history policy. It writes the Workflow's status only.
type WorkflowReconciler struct {
	client.Client
	Scheme *runtime.Scheme
	// Recorder emits events about Workflows; SetupWithManager fills it in when nil
	// with mgr.GetEventRecorder(WorkflowEventRecorderName).
	Recorder events.EventRecorder
	// APIReader reads ServiceAccounts, Secrets and ConfigMaps directly from the API server,
	// so that they are never cached; SetupWithManager fills it in when nil with
	// mgr.GetAPIReader().
	APIReader client.Reader
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// NotReadyRequeue is how soon a Workflow that is not Ready is checked again;
	// zero means DefaultWorkflowNotReadyRequeue.
	NotReadyRequeue time.Duration
	// SummaryInterval is the least time between two status writes that only update the
	// run summary (activeRuns, queuedRuns, lastRun). A busy Workflow starts and ends
	// Runs many times a second; writing its status each time would double the apiserver
	// writes per Run. Zero means DefaultSummaryInterval; negative means no coalescing.
	SummaryInterval time.Duration

	summaryWrites writeThrottle
}

// DefaultSummaryInterval bounds how stale a Workflow's run summary may be.
const DefaultSummaryInterval = time.Second

// +kubebuilder:rbac:groups=aias.dev,resources=workflows,verbs=get;list;watch
// +kubebuilder:rbac:groups=aias.dev,resources=workflows/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=aias.dev,resources=runs,verbs=get;list;watch;delete
// +kubebuilder:rbac:groups="",resources=serviceaccounts;secrets;configmaps,verbs=get
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller: it reconciles Workflows on spec changes and
// whenever a Run of theirs appears, disappears or changes phase or times.
// Call SetupIndexes on the manager first.
func (r *WorkflowReconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Client == nil {
		r.Client = mgr.GetClient()
	}
	if r.Scheme == nil {
		r.Scheme = mgr.GetScheme()
	}
	if r.APIReader == nil {
		r.APIReader = mgr.GetAPIReader()
	}
	if r.Recorder == nil {
		r.Recorder = mgr.GetEventRecorder(WorkflowEventRecorderName)
	}
	return ctrl.NewControllerManagedBy(mgr).
		// Our own status patches bump only the resourceVersion: skip them.
		For(&aiasv1alpha1.Workflow{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&aiasv1alpha1.Run{},
			handler.EnqueueRequestsFromMapFunc(workflowOfRun),
			builder.WithPredicates(runSummaryChanged)).
		Named("workflow").
		Complete(r)
}

// workflowOfRun maps a Run to the Workflow it references.
func workflowOfRun(_ context.Context, o client.Object) []reconcile.Request {
	run, ok := o.(*aiasv1alpha1.Run)
	if !ok || run.Spec.WorkflowRef.Name == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: run.Namespace, Name: run.Spec.WorkflowRef.Name}}}
}

// runSummaryChanged lets through the Run updates that can change the Workflow's status:
// a Run controller updates step progress far more often than phases, and those updates
// concern no Workflow.
var runSummaryChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(*aiasv1alpha1.Run)
		n, ok2 := e.ObjectNew.(*aiasv1alpha1.Run)
		if !ok1 || !ok2 {
			return true
		}
		return o.Status.Phase != n.Status.Phase ||
			!o.Status.StartTime.Equal(n.Status.StartTime) ||
			!o.Status.CompletionTime.Equal(n.Status.CompletionTime) ||
			!o.DeletionTimestamp.Equal(n.DeletionTimestamp) ||
			o.Spec.WorkflowRef.Name != n.Spec.WorkflowRef.Name
	},
}

// Reconcile brings one Workflow's status up to date and applies its history policy.
func (r *WorkflowReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	wf := &aiasv1alpha1.Workflow{}
	if err := r.Get(ctx, req.NamespacedName, wf); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := wf.DeepCopy()
	defer func() {
		if r.summaryWrites.holdBack(&result, req.NamespacedName, onlySummaryChanged(before, wf), r.SummaryInterval, DefaultSummaryInterval, r.now()) {
			return
		}
		err := r.patchStatus(ctx, before, wf)
		if err == nil && !equality.Semantic.DeepEqual(before.Status, wf.Status) {
			r.summaryWrites.wrote(req.NamespacedName, r.now())
		}
		settleStatusWrite(ctx, err, &result, &retErr)
	}()

	wf.Status.ObservedGeneration = wf.Generation
	wf.Status.StepCount = int32(len(wf.Spec.Steps))

	var (
		requeue soonestRequeue
		errs    []error
	)
	after, err := r.reconcileReady(ctx, wf)
	requeue.add(after)
	errs = append(errs, err)

	after, err = r.reconcileRuns(ctx, wf)
	requeue.add(after)
	errs = append(errs, err)

	return ctrl.Result{RequeueAfter: requeue.d}, errors.Join(errs...)
}

// patchStatus writes the status when it changed, and only then records the Ready
// transition it carries. The patch is guarded by the resourceVersion read, so a reconcile
// working from a stale cache fails (and is retried) instead of emitting a duplicate event.
func (r *WorkflowReconciler) patchStatus(ctx context.Context, before, wf *aiasv1alpha1.Workflow) error {
	return patchReadyStatus(ctx, r.Client, r.Recorder, "Workflow", "CheckReferences", before, wf, func(wf *aiasv1alpha1.Workflow) readyStatus {
		return readyStatus{wf.Status, wf.Status.Conditions}
	})
}

func (r *WorkflowReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *WorkflowReconciler) notReadyRequeue() time.Duration {
	if r.NotReadyRequeue > 0 {
		return r.NotReadyRequeue
	}
	return DefaultWorkflowNotReadyRequeue
}

func (r *WorkflowReconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// onlySummaryChanged reports that a pending status write changes nothing but the run
// summary (activeRuns, queuedRuns, lastRun).
func onlySummaryChanged(before, wf *aiasv1alpha1.Workflow) bool {
	a, b := before.Status.DeepCopy(), wf.Status.DeepCopy()
	a.ActiveRuns, a.QueuedRuns, a.LastRun = 0, 0, nil
	b.ActiveRuns, b.QueuedRuns, b.LastRun = 0, 0, nil
	return equality.Semantic.DeepEqual(a, b) && !equality.Semantic.DeepEqual(before.Status, wf.Status)
}
