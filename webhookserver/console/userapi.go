// Package console serves the user listener: the JSON user API (wire types in
// internal/userapi) with its authentication (Kubernetes bearer tokens or the console's
// cookie session) and per-request RBAC, and the embedded web console (ui.go, ui/).
package console

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/hooks"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// The user listener reads Runs and Workflows directly (a cache of every Run would cost
// the server memory in proportion to history), reads Tenants, Plans and endpoints from
// the shared cache, and acts for the caller after SubjectAccessReview: creates replays and
// resumes, starts manual Runs, sets spec.cancel, and sets the annotation that wakes the Run
// controller after an approval decision.
// +kubebuilder:rbac:groups=aias.dev,resources=runs,verbs=get;create;patch
// +kubebuilder:rbac:groups=aias.dev,resources=workflows,verbs=get;list
// +kubebuilder:rbac:groups=aias.dev,resources=tenants,verbs=get;list;watch

// Server serves the user listener: the JSON API of internal/userapi and the web UI.
type Server struct {
	Store *store.Store
	// Client reads Runs and Workflows from the apiserver and writes replays, resumes,
	// cancels and the approval annotation.
	Client client.Client
	// Cache holds Tenants, Plans and WebhookEndpoints; Source resolves effective plans.
	Cache  client.Reader
	Source EntitlementSource
	// PublicBaseURL prefixes endpoint paths when their status has no absolute URL.
	PublicBaseURL string
	// FollowPoll is how often a log follower looks for new lines.
	FollowPoll time.Duration
	// Follows bounds log follows per user and per namespace, and how often each asks
	// again whether its caller may still read the logs (zero fields: DefaultFollowLimits).
	Follows FollowLimits
	Log     logr.Logger
	// Gate admits redeliveries as the hook listener admits deliveries; the webhookserver
	// shares the hook listener's, so that both draw on the same buckets. Nil: one of its own.
	Gate *hooks.Gate

	access  *access
	follows *followSlots // made by Handler from Follows
	// Requests bounds each user's requests (zero fields: DefaultRequestLimits).
	Requests RequestLimits
	rates    *userRates // made by Handler from Requests
	gateOnce sync.Once
	// specs holds decoded frozen specs by digest (digests never change meaning), the
	// maxCachedSpecs used last: a page of Runs shares a few, and a miss is one read.
	specs *lru.Cache
}

// gate is the Gate redeliveries pass.
func (a *Server) gate() *hooks.Gate {
	a.gateOnce.Do(func() {
		if a.Gate == nil {
			a.Gate = &hooks.Gate{Entitlements: a.Source, Store: a.Store}
		}
	})
	return a.Gate
}

// maxCachedSpecs bounds the frozen specs the user listener keeps decoded.
const maxCachedSpecs = 512

// EntitlementSource resolves what binds a namespace (the webhookserver passes the hook
// listener's ClusterSource, which reads the shared cache).
type EntitlementSource interface {
	// Entitlement returns what binds a namespace (internal/entitlements' one rule); nil
	// when the namespace belongs to no Tenant.
	Entitlement(ctx context.Context, namespace string) (*entitlements.Entitlement, error)
}

// New is a Server whose callers are authenticated (TokenReview) and authorized
// (SubjectAccessReview) through cfg; set its other fields before it serves.
func New(cfg *rest.Config) (*Server, error) {
	acc, err := newAccess(cfg)
	if err != nil {
		return nil, err
	}
	return &Server{FollowPoll: 300 * time.Millisecond, Log: logr.Discard(), access: acc, specs: lru.New(maxCachedSpecs)}, nil
}

// Handler routes the user listener.
func (a *Server) Handler() http.Handler {
	lim := a.followLimits()
	a.follows = newFollowSlots(lim.PerUser, lim.PerNamespace)
	a.rates = &userRates{lim: a.Requests.Or(DefaultRequestLimits)}
	mux := http.NewServeMux()
	routes := []struct {
		pattern string
		check   check
		handle  func(http.ResponseWriter, *http.Request)
	}{
		{userapi.PatternRuns, check{Verb: "list", Resource: "runs"}, a.listRuns},
		{userapi.PatternRun, check{Verb: "get", Resource: "runs"}, a.getRun},
		{userapi.PatternSteps, check{Verb: "get", Resource: "runs"}, a.getSteps},
		{userapi.PatternLogs, logsCheck, a.getLogs},
		{userapi.PatternArtifacts, check{Verb: "get", Resource: "runs", Subresource: "artifacts"}, a.listArtifacts},
		{userapi.PatternArtifact, check{Verb: "get", Resource: "runs", Subresource: "artifacts"}, a.downloadArtifact},
		{userapi.PatternArtifactPreview, check{Verb: "get", Resource: "runs", Subresource: "artifacts"}, a.previewArtifact},
		{userapi.PatternReplay, check{Verb: "create", Resource: "runs", Subresource: "replay"}, a.replay},
		{userapi.PatternResume, check{Verb: "create", Resource: "runs", Subresource: "resume"}, a.resume},
		{userapi.PatternCancel, check{Verb: "create", Resource: "runs", Subresource: "cancel"}, a.cancel},
		// Approve and reject are one permission: who may decide a gate may decide it either way.
		{userapi.PatternApprove, check{Verb: "create", Resource: "runs", Subresource: "approve"}, a.approve},
		{userapi.PatternReject, check{Verb: "create", Resource: "runs", Subresource: "approve"}, a.reject},
		{userapi.PatternWorkflows, check{Verb: "list", Resource: "workflows"}, a.listWorkflows},
		{userapi.PatternStartRun, check{Verb: "create", Resource: "runs"}, a.startRun},
		{userapi.PatternEndpoints, check{Verb: "list", Resource: "webhookendpoints"}, a.listEndpoints},
		{userapi.PatternDeliveries, check{Verb: "get", Resource: "webhookendpoints"}, a.listDeliveries},
		{userapi.PatternRedeliver, check{Verb: "create", Resource: "webhookendpoints", Subresource: "redeliver"}, a.redeliver},
		{userapi.PatternUsage, check{Verb: "list", Resource: "runs"}, a.usage},
	}
	for _, rt := range routes {
		cost := oneRequest
		if rt.check == logsCheck {
			cost = logPageCost
		}
		mux.Handle(rt.pattern, a.access.authenticated(a.rated(cost, a.authorized(rt.check, rt.handle))))
	}
	mux.Handle(userapi.PatternWhoAmI, a.access.authenticated(a.rated(oneRequest, http.HandlerFunc(a.whoami))))
	mux.Handle(userapi.PatternNamespaces, a.access.authenticated(a.rated(oneRequest, http.HandlerFunc(a.listNamespaces))))
	mux.HandleFunc(userapi.PatternAPI, func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "no such API route")
	})
	mux.HandleFunc("POST /login", a.access.login)
	mux.HandleFunc("POST /logout", a.access.logout)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.Handle("/", uiHandler())
	return mux
}

// authorized asks SubjectAccessReview the route's question about the path's namespace
// and run before the handler runs: 403 with the apiserver's words when refused.
func (a *Server) authorized(c check, h func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ns := r.PathValue("ns")
		c := c
		c.Name = r.PathValue("run")
		ok, msg, err := a.access.allowed(r.Context(), callerFrom(r.Context()), ns, c)
		if err != nil {
			a.Log.Error(err, "subject access review failed")
			httpjson.Error(w, http.StatusServiceUnavailable, "Unavailable", "could not check permissions with the Kubernetes API")
			return
		}
		if !ok {
			httpjson.Error(w, http.StatusForbidden, "Forbidden", msg)
			return
		}
		h(w, r)
	})
}

func (a *Server) whoami(w http.ResponseWriter, r *http.Request) {
	u := callerFrom(r.Context())
	httpjson.Write(w, http.StatusOK, userapi.WhoAmI{User: u.GetName(), Groups: u.GetGroups()})
}

// apiFailure turns a Kubernetes or store error into the API's answer.
func (a *Server) apiFailure(w http.ResponseWriter, what string, err error) {
	switch {
	case apierrors.IsNotFound(err), errors.Is(err, store.ErrNotFound):
		httpjson.Error(w, http.StatusNotFound, "NotFound", what+" not found")
	case errors.Is(err, context.Canceled):
		// the client went away
	default:
		a.Log.Error(err, "request failed", "what", what)
		httpjson.Error(w, http.StatusServiceUnavailable, "Unavailable", "could not read "+what+"; try again")
	}
}

// badRequest reports a malformed request parameter.
func badRequest(w http.ResponseWriter, msg string) {
	httpjson.Error(w, http.StatusBadRequest, "BadRequest", msg)
}
