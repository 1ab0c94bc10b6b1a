package webhookserver

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aias-dev/aias/internal/store"
)

// The user listener reads Runs and Workflows directly (a cache of every Run would cost
// the server memory in proportion to history), reads Tenants, Plans and endpoints from
// the shared cache, and acts for the caller after SubjectAccessReview: creates replays,
// sets spec.cancel.
// +kubebuilder:rbac:groups=aias.dev,resources=runs,verbs=get;patch
// +kubebuilder:rbac:groups=aias.dev,resources=workflows,verbs=get;list
// +kubebuilder:rbac:groups=aias.dev,resources=tenants,verbs=get;list;watch

// UserAPI serves the user listener: the JSON API in userapi_types.go and the web UI.
type UserAPI struct {
	Store *store.Store
	// Client reads Runs and Workflows from the apiserver and writes replays and cancels.
	Client client.Client
	// Cache holds Tenants, Plans and WebhookEndpoints; Source resolves effective plans.
	Cache  client.Reader
	Source *ClusterSource
	// PublicBaseURL prefixes endpoint paths when their status has no absolute URL.
	PublicBaseURL string
	// FollowPoll is how often a log follower looks for new lines.
	FollowPoll time.Duration
	Log        logr.Logger

	access *access
	specs  sync.Map // spec digest → *aiasv1alpha1.WorkflowSpec; digests never change meaning
}

func newUserAPI(o Options, st *store.Store, cl *cluster) (*UserAPI, error) {
	acc, err := newAccess(cl.config)
	if err != nil {
		return nil, err
	}
	log := o.Log
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	return &UserAPI{Store: st, Client: cl.client, Cache: cl.cache, Source: cl.source, PublicBaseURL: o.PublicBaseURL,
		FollowPoll: 300 * time.Millisecond, Log: log.WithName("userapi"), access: acc}, nil
}

// Handler routes the user listener.
func (a *UserAPI) Handler() http.Handler {
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
		{"GET /api/v1/namespaces/{ns}/webhookendpoints", check{Verb: "list", Resource: "webhookendpoints"}, a.listEndpoints},
		{"GET /api/v1/namespaces/{ns}/usage", check{Verb: "list", Resource: "runs"}, a.usage},
	}
	for _, rt := range routes {
		mux.Handle(rt.pattern, a.access.authenticated(a.authorized(rt.check, rt.handle)))
	}
	mux.Handle("GET /api/v1/whoami", a.access.authenticated(http.HandlerFunc(a.whoami)))
	mux.Handle("GET /api/v1/namespaces", a.access.authenticated(http.HandlerFunc(a.listNamespaces)))
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "NotFound", "no such API route")
	})
	mux.HandleFunc("POST /login", a.access.login)
	mux.HandleFunc("POST /logout", a.access.logout)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.Handle("/", uiHandler())
	return mux
}

// authorized asks SubjectAccessReview the route's question about the path's namespace
// and run before the handler runs: 403 with the apiserver's words when refused.
func (a *UserAPI) authorized(c check, h func(http.ResponseWriter, *http.Request)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ns := r.PathValue("ns")
		c := c
		c.Name = r.PathValue("run")
		ok, msg, err := a.access.allowed(r.Context(), callerFrom(r.Context()), ns, c)
		if err != nil {
			a.Log.Error(err, "subject access review failed")
			writeError(w, http.StatusServiceUnavailable, "Unavailable", "could not check permissions with the Kubernetes API")
			return
		}
		if !ok {
			writeError(w, http.StatusForbidden, "Forbidden", msg)
			return
		}
		h(w, r)
	})
}

func (a *UserAPI) whoami(w http.ResponseWriter, r *http.Request) {
	u := callerFrom(r.Context())
	writeJSON(w, http.StatusOK, WhoAmI{User: u.GetName(), Groups: u.GetGroups()})
}

// apiFailure turns a Kubernetes or store error into the API's answer.
func (a *UserAPI) apiFailure(w http.ResponseWriter, what string, err error) {
	switch {
	case apierrors.IsNotFound(err), errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "NotFound", what+" not found")
	case errors.Is(err, context.Canceled):
		// the client went away
	default:
		a.Log.Error(err, "request failed", "what", what)
		writeError(w, http.StatusServiceUnavailable, "Unavailable", "could not read "+what+"; try again")
	}
}

// badRequest reports a malformed request parameter.
func badRequest(w http.ResponseWriter, msg string) {
	writeError(w, http.StatusBadRequest, "BadRequest", msg)
}
