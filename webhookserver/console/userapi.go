// Package console serves the user listener: the JSON user API (wire types in
// internal/userapi) with its authentication (Kubernetes bearer tokens or the console's
// cookie session) and per-request RBAC, and the embedded web console (ui.go, ui/).
package console

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/utils/lru"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// The user listener reads Runs and Workflows directly (a cache of every Run would cost
// the server memory in proportion to history), reads Tenants, Plans and endpoints from
// the shared cache, and acts for the caller after SubjectAccessReview: creates replays,
// starts manual Runs, sets spec.cancel.
// +kubebuilder:rbac:groups=aias.dev,resources=runs,verbs=get;create;patch
// +kubebuilder:rbac:groups=aias.dev,resources=workflows,verbs=get;list
// +kubebuilder:rbac:groups=aias.dev,resources=tenants,verbs=get;list;watch

// Server serves the user listener: the JSON API of internal/userapi and the web UI.
type Server struct {
	Store *store.Store
	// Client reads Runs and Workflows from the apiserver and writes replays and cancels.
	Client client.Client
	// Cache holds Tenants, Plans and WebhookEndpoints; Source resolves effective plans.
	Cache  client.Reader
	Source EntitlementSource
	// PublicBaseURL prefixes endpoint paths when their status has no absolute URL.
	PublicBaseURL string
	// FollowPoll is how often a log follower looks for new lines.
	FollowPoll time.Duration
	Log        logr.Logger

	access *access
	// specs holds decoded frozen specs by digest (digests never change meaning), the
	// maxCachedSpecs used last: a page of Runs shares a few, and a miss is one read.
	specs *lru.Cache
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
	mux := http.NewServeMux()
	runs := "/api/v1/namespaces/{ns}/runs"
	run := runs + "/{run}"
	routes := []struct {
		pattern string
		check   check
		handle  func(http.ResponseWriter, *http.Request)
	}{
		{"GET " + runs, check{Verb: "list", Resource: "runs"}, a.listRuns},
		{"GET " + run, check{Verb: "get", Resource: "runs"}, a.getRun},
		{"GET " + run + "/steps", check{Verb: "get", Resource: "runs"}, a.getSteps},
		{"GET " + run + "/logs", check{Verb: "get", Resource: "runs", Subresource: "logs"}, a.getLogs},
		{"GET " + run + "/artifacts", check{Verb: "get", Resource: "runs", Subresource: "artifacts"}, a.listArtifacts},
		{"GET " + run + "/artifacts/{step}/{name}", check{Verb: "get", Resource: "runs", Subresource: "artifacts"}, a.downloadArtifact},
		{"GET " + run + "/artifacts/{step}/{name}/preview", check{Verb: "get", Resource: "runs", Subresource: "artifacts"}, a.previewArtifact},
		{"POST " + run + "/replay", check{Verb: "create", Resource: "runs", Subresource: "replay"}, a.replay},
		{"POST " + run + "/cancel", check{Verb: "create", Resource: "runs", Subresource: "cancel"}, a.cancel},
		{"GET /api/v1/namespaces/{ns}/workflows", check{Verb: "list", Resource: "workflows"}, a.listWorkflows},
		{"POST /api/v1/namespaces/{ns}/workflows/{wf}/runs", check{Verb: "create", Resource: "runs"}, a.startRun},
		{"GET /api/v1/namespaces/{ns}/webhookendpoints", check{Verb: "list", Resource: "webhookendpoints"}, a.listEndpoints},
		{"GET /api/v1/namespaces/{ns}/webhookendpoints/{ep}/deliveries", check{Verb: "get", Resource: "webhookendpoints"}, a.listDeliveries},
		{"POST /api/v1/namespaces/{ns}/webhookendpoints/{ep}/deliveries/{id}/redeliver", check{Verb: "create", Resource: "webhookendpoints", Subresource: "redeliver"}, a.redeliver},
		{"GET /api/v1/namespaces/{ns}/usage", check{Verb: "list", Resource: "runs"}, a.usage},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, a.access.authenticated(a.authorized(rt.check, rt.handle)))
	}
	mux.Handle("GET /api/v1/whoami", a.access.authenticated(http.HandlerFunc(a.whoami)))
	mux.Handle("GET /api/v1/namespaces", a.access.authenticated(http.HandlerFunc(a.listNamespaces)))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
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
