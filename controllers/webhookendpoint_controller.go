package controllers

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
	"github.com/aias-dev/aias/internal/store"
)

// WebhookEndpointEventRecorderName is the reporting controller of the WebhookEndpoint
// controller's events.
const WebhookEndpointEventRecorderName = "aias-webhookendpoint"

// WebhookEndpointReconciler publishes a WebhookEndpoint's URL and signing Secret, generates
// that Secret when the endpoint names none, and reports whether the endpoint can accept
// deliveries. It writes the endpoint's status only (and its finalizer, which deletes the
// endpoint's delivery log and ledger from the store with it), and never modifies a Secret
// it did not create (nor, once created, its own: rotation adds keys to it).
//
// Secret contents are never cached: the controller watches Secret metadata only, through a
// cache of its own that also drops annotations (kubectl keeps a Secret's whole content in
// its last-applied-configuration annotation), and reads a Secret's data directly from the
// API server when it reconciles an endpoint that uses it.
type WebhookEndpointReconciler struct {
	client.Client
	Scheme *runtime.Scheme
	// Recorder emits events about WebhookEndpoints; SetupWithManager fills it in when nil
	// with mgr.GetEventRecorder(WebhookEndpointEventRecorderName).
	Recorder events.EventRecorder
	// APIReader reads Secrets directly from the API server; SetupWithManager fills it in
	// when nil with mgr.GetAPIReader().
	APIReader client.Reader
	// Store holds the endpoint's delivery log and ledger, deleted with it (finalizer
	// aias.dev/endpoint-cleanup); nil leaves them and adds no finalizer.
	Store *store.Store
	// PublicBaseURL is where the webhookserver's public listener is reached from outside,
	// e.g. "https://hooks.example.com"; status.url is that plus the endpoint's path.
	// Empty, status.url is the path only.
	PublicBaseURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time

	// secrets is the cache of Secret metadata the Secret watch runs on.
	secrets secretMetadataCache
}

// +kubebuilder:rbac:groups=aias.dev,resources=webhookendpoints,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=aias.dev,resources=webhookendpoints/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=aias.dev,resources=webhookendpoints/finalizers,verbs=update
// +kubebuilder:rbac:groups=aias.dev,resources=workflows,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch;create
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the controller: it reconciles WebhookEndpoints on spec
// changes, when the Workflow they reference appears or disappears, and when a Secret they
// use (or their generated Secret's name) is created, changed or deleted.
// Call SetupIndexes on the manager first.
func (r *WebhookEndpointReconciler) SetupWithManager(mgr ctrl.Manager) error {
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
		r.Recorder = mgr.GetEventRecorder(WebhookEndpointEventRecorderName)
	}
	secrets, err := newSecretMetadataCache(mgr)
	if err != nil {
		return err
	}
	// Started with the manager's own caches, before any controller.
	if err := mgr.Add(secrets); err != nil {
		return err
	}
	r.secrets = secrets
	return ctrl.NewControllerManagedBy(mgr).
		// Our own status patches bump only the resourceVersion: skip them.
		For(&aiasv1alpha1.WebhookEndpoint{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Watches(&aiasv1alpha1.Workflow{},
			handler.EnqueueRequestsFromMapFunc(r.endpointsOfWorkflow),
			builder.WithPredicates(workflowExistenceChanged)).
		// Every change of a Secret bumps its resourceVersion, so its metadata alone says
		// when to read it again.
		WatchesRawSource(source.Kind(secrets.Cache, secretMetadata(),
			handler.TypedEnqueueRequestsFromMapFunc(r.endpointsOfSecret))).
		Named("webhookendpoint").
		Complete(r)
}

// workflowExistenceChanged lets through the Workflow events that can change an endpoint's
// status: only whether the Workflow exists matters to it.
var workflowExistenceChanged = predicate.Funcs{
	UpdateFunc: func(event.UpdateEvent) bool { return false },
}

// endpointsOfWorkflow maps a Workflow to the endpoints that reference it, from the cache.
func (r *WebhookEndpointReconciler) endpointsOfWorkflow(ctx context.Context, o client.Object) []reconcile.Request {
	var eps aiasv1alpha1.WebhookEndpointList
	if err := r.List(ctx, &eps, client.InNamespace(o.GetNamespace()), client.MatchingFields{IndexWebhookEndpointWorkflow: o.GetName()}); err != nil {
		log.FromContext(ctx).Error(err, "listing the WebhookEndpoints of a Workflow", "namespace", o.GetNamespace(), "workflow", o.GetName())
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(eps.Items))
	for _, ep := range eps.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: ep.Namespace, Name: ep.Name}})
	}
	return reqs
}

// endpointsOfSecret maps a Secret to the endpoints that use it or whose generated Secret
// has its name: by the label on a generated Secret, by the name `<endpoint>-signing`
// (which also covers a foreign Secret in the way, so that deleting it unblocks the
// endpoint), and by the secretRef index.
func (r *WebhookEndpointReconciler) endpointsOfSecret(ctx context.Context, m *metav1.PartialObjectMetadata) []reconcile.Request {
	var names []string
	if v := m.Labels[aiasv1alpha1.LabelWebhookEndpoint]; v != "" {
		names = append(names, v)
	}
	if base, ok := strings.CutSuffix(m.Name, aiasv1alpha1.GeneratedSigningSecretSuffix); ok && base != "" {
		names = append(names, base)
	}
	var eps aiasv1alpha1.WebhookEndpointList
	err := r.List(ctx, &eps, client.InNamespace(m.Namespace), client.MatchingFields{IndexWebhookEndpointSecret: m.Name})
	if err != nil {
		// The Secret watch spans the cluster while the manager's cache may be restricted
		// to some namespaces: a Secret elsewhere concerns no endpoint we reconcile.
		log.FromContext(ctx).V(1).Info("listing the WebhookEndpoints of a Secret", "namespace", m.Namespace, "secret", m.Name, "error", err.Error())
	}
	for _, ep := range eps.Items {
		names = append(names, ep.Name)
	}
	slices.Sort(names)
	names = slices.Compact(names)
	reqs := make([]reconcile.Request, 0, len(names))
	for _, n := range names {
		reqs = append(reqs, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: m.Namespace, Name: n}})
	}
	return reqs
}

// Reconcile brings one WebhookEndpoint's status up to date, generating its signing
// Secret first when it needs one.
func (r *WebhookEndpointReconciler) Reconcile(ctx context.Context, req ctrl.Request) (result ctrl.Result, retErr error) {
	ep := &aiasv1alpha1.WebhookEndpoint{}
	if err := r.Get(ctx, req.NamespacedName, ep); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ep.DeletionTimestamp.IsZero() {
		// Going away: a Secret created now would only be garbage collected; what the
		// store holds for it goes.
		return r.cleanUpEndpoint(ctx, ep)
	}
	before := ep.DeepCopy()
	defer func() {
		err := r.patchStatus(ctx, before, ep)
		if err == nil {
			// After the status and the signing Secret, which senders wait for; the rows
			// it guards come with deliveries, and a delete before it is on leaves only
			// rows under a UID nobody lists (purged by age).
			err = r.ensureEndpointFinalizer(ctx, ep)
		}
		settleStatusWrite(ctx, err, &result, &retErr)
	}()

	ep.Status.ObservedGeneration = ep.Generation
	ep.Status.URL = ep.HookURL(r.PublicBaseURL)

	var problems []readyProblem
	if _, err := deliveryexpr.Compile(&ep.Spec); err != nil {
		problems = append(problems, readyProblem{aiasv1alpha1.ReasonInvalidExpression, err.Error()})
	}
	wfProblem, err := r.workflowProblem(ctx, ep)
	if err != nil {
		return ctrl.Result{}, err
	}
	if wfProblem != nil {
		problems = append(problems, *wfProblem)
	}
	sc, err := r.reconcileSecret(ctx, ep)
	if err != nil {
		// Leave the condition as it was; the reconcile is retried with backoff.
		return ctrl.Result{}, err
	}
	if sc.name == "" {
		ep.Status.SecretRef = nil
	} else {
		ep.Status.SecretRef = &aiasv1alpha1.SecretReference{Name: sc.name}
	}
	if sc.problem != nil {
		problems = append(problems, *sc.problem)
	}
	r.setReady(ep, problems, sc)
	return ctrl.Result{}, nil
}

// setReady sets the Ready condition: the first problem gives the reason, the message
// lists them all; without problems, the message says which keys verify deliveries.
func (r *WebhookEndpointReconciler) setReady(ep *aiasv1alpha1.WebhookEndpoint, problems []readyProblem, sc secretCheck) {
	if len(problems) > 0 {
		setEndpointReady(ep, metav1.ConditionFalse, problems[0].reason, problemsMessage(problems), r.now())
		return
	}
	msg := fmt.Sprintf("Deliveries start Runs of Workflow %q; signing keys in Secret %q: %s",
		ep.Spec.WorkflowRef.Name, sc.name, quotedList(sc.usable))
	if len(sc.malformed) > 0 {
		msg += "; ignored: " + strings.Join(sc.malformed, "; ")
	}
	if ep.Spec.Suspend {
		msg += "; suspended: deliveries are refused until spec.suspend is false"
	}
	setEndpointReady(ep, metav1.ConditionTrue, aiasv1alpha1.ReasonReady, msg, r.now())
}

// workflowProblem reports the referenced Workflow missing or not taking its params; it reads the cache.
func (r *WebhookEndpointReconciler) workflowProblem(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint) (*readyProblem, error) {
	name := ep.Spec.WorkflowRef.Name
	wf := &aiasv1alpha1.Workflow{}
	err := r.Get(ctx, types.NamespacedName{Namespace: ep.Namespace, Name: name}, wf)
	switch {
	case err == nil:
		// Every Run it started would be Rejected: say so before the first delivery.
		if unknown := undeclaredEndpointParams(ep, wf); len(unknown) > 0 {
			return &readyProblem{aiasv1alpha1.ReasonUnknownParam, fmt.Sprintf("spec.params: Workflow %q declares no parameter %s", name, strings.Join(unknown, ", "))}, nil
		}
		return nil, nil
	case apierrors.IsNotFound(err):
		return &readyProblem{aiasv1alpha1.ReasonWorkflowNotFound, fmt.Sprintf("spec.workflowRef: Workflow %q not found", name)}, nil
	default:
		return nil, fmt.Errorf("reading Workflow %s/%s: %w", ep.Namespace, name, err)
	}
}

// patchStatus writes the status when it changed, and only then records the Ready
// transition it carries. The patch is guarded by the resourceVersion read, so a reconcile
// working from a stale cache fails (and is retried) instead of emitting a duplicate event.
func (r *WebhookEndpointReconciler) patchStatus(ctx context.Context, before, ep *aiasv1alpha1.WebhookEndpoint) error {
	return patchReadyStatus(ctx, r.Client, r.Recorder, "WebhookEndpoint", "CheckReferences", before, ep, func(ep *aiasv1alpha1.WebhookEndpoint) readyStatus {
		return readyStatus{ep.Status, ep.Status.Conditions}
	})
}

func (r *WebhookEndpointReconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

func (r *WebhookEndpointReconciler) apiReader() client.Reader {
	if r.APIReader != nil {
		return r.APIReader
	}
	return r.Client
}

// quotedList writes names as "a", "b".
func quotedList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}

// undeclaredEndpointParams lists, sorted, the params ep fills that wf does not declare.
func undeclaredEndpointParams(ep *aiasv1alpha1.WebhookEndpoint, wf *aiasv1alpha1.Workflow) []string {
	declared := map[string]bool{}
	for _, p := range wf.Spec.Params {
		declared[p.Name] = true
	}
	var out []string
	for n := range ep.Spec.Params {
		if !declared[n] {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}
