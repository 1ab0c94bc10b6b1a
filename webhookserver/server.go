package webhookserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/sharedflags"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/billing"
	"github.com/aias-dev/aias/webhookserver/console"
	"github.com/aias-dev/aias/webhookserver/hooks"
	"github.com/aias-dev/aias/webhookserver/internal/httpbound"
	"github.com/aias-dev/aias/webhookserver/stepapi"
)

// DefaultMaxBodyBytes is a delivery's cap when its endpoint sets none.
const DefaultMaxBodyBytes = hooks.DefaultMaxBodyBytes

// Options configure `aias webhookserver`.
type Options struct {
	PublicAddr       string
	UserAddr         string
	InternalAddr     string
	MetricsAddr      string
	DatabaseURL      string
	StepTokenKeyFile string
	MaxArtifactBytes int64
	MaxLogBatch      int
	// DatabaseMaxConns bounds the store's connection pool (0: see store.MaxConns).
	DatabaseMaxConns int
	// Uploads bound the internal step API's artifact uploads (zero fields: defaults).
	Uploads stepapi.UploadLimits
	// StripeWebhookSecretFile holds the Stripe endpoint signing secret (whsec_...);
	// empty disables POST /billing/stripe (404).
	StripeWebhookSecretFile string
	// PublicBaseURL is how callers reach the public listener, e.g. https://hooks.example.com
	// (the UI shows endpoint URLs with it); empty shows paths.
	PublicBaseURL string
	// DefaultPlan and PastDueGrace resolve a tenant's effective plan as the manager does
	// (keep both processes' flags equal).
	DefaultPlan  string
	PastDueGrace time.Duration

	// Hooks bound what deliveries may hold beyond the public listener's own caps (a zero
	// field takes hooks.DefaultLimits); NoteQueue bounds the delivery log's write queue.
	Hooks     hooks.Limits
	NoteQueue store.NoteQueue
	// InsecureMetrics serves the metrics listener over plain HTTP to anyone (--metrics-secure=false).
	// By default (false) it speaks TLS and serves only callers whose Kubernetes token may
	// `get` /metrics (TokenReview and SubjectAccessReview through RestConfig).
	InsecureMetrics bool

	// PublicLimits, UserLimits, InternalLimits and MetricsLimits bound each listener's
	// clients: timeouts, header size, open connections and requests in flight. A zero
	// field takes the listener's default (DefaultLimits).
	PublicLimits, UserLimits, InternalLimits, MetricsLimits Limits
	// UserFollows bounds the user listener's log follows per user and per namespace and
	// says how often each asks again whether its caller may still read the logs (zero
	// fields: console.DefaultFollowLimits).
	UserFollows console.FollowLimits
	// UserRequests bounds each user's requests to the user API (zero: the defaults).
	UserRequests console.RequestLimits

	// RestConfig reaches the apiserver (not a flag: the kubeconfig or in-cluster config).
	RestConfig *rest.Config
	// Log receives one line per delivery at V(1) and errors; never payloads or secrets.
	Log logr.Logger
}

// ParseFlags reads the webhookserver flags.
func ParseFlags(args []string) (Options, error) {
	var o Options
	fs := sharedflags.NewFlagSet("webhookserver", "aias webhookserver [flags]")
	fs.StringVar(&o.PublicAddr, "public-bind-address", ":8080", `address of the public hook listener (POST /hooks/{namespace}/{endpoint}); "0" disables it`)
	fs.StringVar(&o.UserAddr, "user-bind-address", ":8081", `address of the user API and web UI (Kubernetes tokens, RBAC); "0" disables it`)
	fs.StringVar(&o.InternalAddr, "internal-bind-address", ":8082", "address of the internal step API (reachable from step pods only)")
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", ":9090", `address of the Prometheus /metrics endpoint; "0" disables it`)
	secureMetrics := fs.Bool("metrics-secure", true, "serve metrics over HTTPS to callers whose Kubernetes token may get /metrics (TokenReview, SubjectAccessReview); false: plain HTTP without authentication")
	shared := sharedflags.Targets{DatabaseURL: &o.DatabaseURL, DatabaseMaxConns: &o.DatabaseMaxConns, StepTokenKeyFile: &o.StepTokenKeyFile,
		DefaultPlan: &o.DefaultPlan, PastDueGrace: &o.PastDueGrace, PublicBaseURL: &o.PublicBaseURL}
	sharedflags.Register(fs, shared)
	fs.Int64Var(&o.MaxArtifactBytes, "max-artifact-bytes", 1<<30, "largest single artifact accepted")
	fs.IntVar(&o.MaxLogBatch, "max-log-batch", 1000, "most log lines in one append")
	registerUploadFlags(fs, &o.Uploads)
	fs.StringVar(&o.StripeWebhookSecretFile, "stripe-webhook-secret-file", "", "file holding the Stripe webhook signing secret (whsec_...) for POST /billing/stripe; empty disables billing")
	dh := hooks.DefaultLimits()
	fs.Int64Var(&o.Hooks.BodyBytesInFlight, "public-max-body-bytes-in-flight", dh.BodyBytesInFlight, "bytes of delivery bodies the hook listener holds at once, across every connection; past it a delivery is answered 503 with Retry-After")
	fs.Int64Var(&o.Hooks.BodyBytesPerNamespace, "public-max-body-bytes-per-namespace", dh.BodyBytesPerNamespace, "a namespace's share of --public-max-body-bytes-in-flight (of the URL's namespace): at least the largest maxBodyBytes an endpoint may set (32 MiB), so that one tenant cannot hold all of it; past it 503 with Retry-After")
	fs.IntVar(&o.Hooks.InFlightPerNamespace, "public-max-in-flight-per-namespace", dh.InFlightPerNamespace, "deliveries the hook listener serves at once per namespace (of the URL); one more is answered 503 with Retry-After")
	fs.IntVar(&o.Hooks.UnverifiedPerMinute, "public-unverified-per-minute", dh.UnverifiedPerMinute, "deliveries that do not verify each source address may send per minute; past it (and its burst) the source is answered 429 with Retry-After")
	fs.IntVar(&o.Hooks.UnverifiedBurst, "public-unverified-burst", dh.UnverifiedBurst, "burst of --public-unverified-per-minute")
	fs.Func("public-trusted-proxies", "comma-separated CIDRs of proxies (ingress controllers, load balancers) in front of the hook listener whose X-Forwarded-For names the source address", func(v string) error {
		for _, c := range strings.Split(v, ",") {
			if c = strings.TrimSpace(c); c == "" {
				continue
			}
			p, err := netip.ParsePrefix(c)
			if err != nil {
				return err
			}
			o.Hooks.TrustedProxies = append(o.Hooks.TrustedProxies, p)
		}
		return nil
	})
	fs.IntVar(&o.NoteQueue.Bytes, "public-log-queue-bytes", store.DefaultNoteQueueBytes, "bytes of delivery-log rows (bodies kept for redelivery included) queued for writing; a verified delivery that finds it full is answered 503 with Retry-After")
	fs.IntVar(&o.NoteQueue.Items, "public-log-queue-items", store.DefaultNoteQueueItems, "delivery-log rows and ledger marks queued for writing")
	var all Limits // every listener's timeouts and caps but the in-flight one
	d := DefaultLimits("")
	fs.DurationVar(&all.ReadHeaderTimeout, "http-read-header-timeout", d.ReadHeaderTimeout, "every listener: longest wait for a request's line and headers")
	fs.DurationVar(&all.ReadTimeout, "http-read-timeout", d.ReadTimeout, "every listener: longest a request, its body included, may take to arrive and be served (streaming routes excepted)")
	fs.DurationVar(&all.WriteTimeout, "http-write-timeout", d.WriteTimeout, "every listener: longest a response may take to write, from the end of the request headers (streaming routes excepted)")
	fs.DurationVar(&all.IdleTimeout, "http-idle-timeout", d.IdleTimeout, "every listener: how long a keep-alive connection may wait for its next request")
	fs.DurationVar(&all.StreamTimeout, "http-stream-timeout", d.StreamTimeout, "every listener: on streaming routes (log follow, artifact upload and download, step input), longest one read of the body or one write of the response may take")
	fs.IntVar(&all.MaxHeaderBytes, "http-max-header-bytes", d.MaxHeaderBytes, "every listener: largest request line and headers (431 above)")
	fs.IntVar(&all.MaxConnections, "http-max-connections", d.MaxConnections, "every listener: most open connections; one more is answered 503 and closed")
	inFlight := map[string]*int{}
	for _, l := range listenerNames {
		inFlight[l] = new(int)
		fs.IntVar(inFlight[l], l+"-max-in-flight", DefaultLimits(l).MaxInFlight, "most requests the "+l+" listener serves at once; one more is answered 503 with Retry-After")
	}
	df := console.DefaultFollowLimits
	fs.IntVar(&o.UserFollows.PerUser, console.FlagFollowsPerUser, df.PerUser, "most log follows one user (as TokenReview names it) may have open on the user listener; one more is answered 429 TooManyFollows with Retry-After")
	fs.IntVar(&o.UserFollows.PerNamespace, console.FlagFollowsPerNamespace, df.PerNamespace, "most log follows open at once in one namespace; one more is answered 429 TooManyFollows with Retry-After")
	fs.DurationVar(&o.UserFollows.AccessRecheck, console.FlagFollowAccessRecheck, df.AccessRecheck, `how often a log follow asks the apiserver again (TokenReview and SubjectAccessReview) whether its caller may still read the Run's logs; once not, it ends with an end event {"forbidden":true}`)
	dr := console.DefaultRequestLimits
	fs.Float64Var(&o.UserRequests.PerSecond, "user-requests-per-second", dr.PerSecond, "requests a second each user (as TokenReview names it) may make to the user API (a page of logs counts one per 1000 lines); past it and its burst the answer is 429 RateLimited with Retry-After")
	fs.IntVar(&o.UserRequests.Burst, "user-request-burst", dr.Burst, "burst of --user-requests-per-second")
	if err := sharedflags.Parse(fs, args); err != nil {
		return o, err
	}
	if o.UserRequests.PerSecond <= 0 || o.UserRequests.Burst < 1 {
		return o, errors.New("--user-requests-per-second and --user-request-burst must be positive")
	}
	if f := o.UserFollows; f.PerUser <= 0 || f.PerNamespace <= 0 || f.AccessRecheck <= 0 {
		return o, fmt.Errorf("--%s, --%s and --%s must be positive", console.FlagFollowsPerUser, console.FlagFollowsPerNamespace, console.FlagFollowAccessRecheck)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.Hooks.BodyBytesPerNamespace < DefaultMaxBodyBytes || o.Hooks.BodyBytesPerNamespace > o.Hooks.BodyBytesInFlight {
		return o, errors.New("--public-max-body-bytes-per-namespace must be at least 1 MiB and at most --public-max-body-bytes-in-flight")
	}
	if o.Hooks.BodyBytesInFlight < DefaultMaxBodyBytes || o.Hooks.InFlightPerNamespace < 1 || o.Hooks.UnverifiedPerMinute < 1 ||
		o.Hooks.UnverifiedBurst < 1 || o.NoteQueue.Bytes < 1<<20 || o.NoteQueue.Items < 1 {
		return o, fmt.Errorf("--public-max-body-bytes-in-flight must be at least %d (one delivery of the default size) and --public-max-in-flight-per-namespace, --public-unverified-per-minute, --public-unverified-burst and --public-log-queue-items at least 1, --public-log-queue-bytes at least 1 MiB", DefaultMaxBodyBytes)
	}
	o.InsecureMetrics = !*secureMetrics
	if err := checkUploadFlags(o.Uploads, o.MaxArtifactBytes); err != nil {
		return o, err
	}
	for _, l := range []struct {
		name string
		into *Limits
	}{{"public", &o.PublicLimits}, {"user", &o.UserLimits}, {"internal", &o.InternalLimits}, {"metrics", &o.MetricsLimits}} {
		*l.into = all
		l.into.MaxInFlight = *inFlight[l.name]
		if err := checkFlagLimits(*l.into); err != nil {
			return o, fmt.Errorf("--http-* or --%s-max-in-flight: %w", l.name, err)
		}
	}
	return o, sharedflags.Check(shared)
}

// Limits bound one listener's clients; a zero field takes the listener's default.
type Limits = httpbound.Limits

// listenerNames label the listeners in flags and metrics.
var listenerNames = []string{"public", "user", "internal", "metrics"}

// DefaultLimits are the bounds of the listener named (public, user, internal, metrics)
// where Options leave them zero (docs/security.md, "Listener limits"). Every listener shares the
// timeouts: the whole of a request within 30 s of its first byte (GitHub itself gives up
// on a delivery after 10 s), its response within 60 s, a keep-alive connection
// closed after 120 s idle (longer than the 60 s idle timeout of common load balancers, so
// they close first), streaming routes cut after 60 s without progress (a log follow writes
// a keep-alive every 15 s), headers up to 64 KiB (a bearer token or session cookie is a few
// KiB) and 1024 open connections. Requests in flight are capped per listener by what one
// costs: a hook delivery holds its body (1 MiB by default, up to 32 MiB) in memory, so 128
// of them at once; the user listener keeps a slot per log follower, so 256; the internal
// step API 256; metrics, scraped one at a time, 8.
func DefaultLimits(listener string) Limits {
	l := Limits{ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 60 * time.Second,
		IdleTimeout: 120 * time.Second, StreamTimeout: 60 * time.Second, MaxHeaderBytes: 64 << 10, MaxConnections: 1024}
	switch listener {
	case "public":
		l.MaxInFlight = 128
	case "user", "internal":
		l.MaxInFlight = 256
	case "metrics":
		l.MaxInFlight = 8
	}
	return l
}

// checkFlagLimits refuses a bound given as zero or less on the command line: the flags
// set every bound, and none can be turned off.
func checkFlagLimits(l Limits) error {
	if err := l.Check(); err != nil {
		return err
	}
	if l.ReadHeaderTimeout == 0 || l.ReadTimeout == 0 || l.WriteTimeout == 0 || l.IdleTimeout == 0 || l.StreamTimeout == 0 ||
		l.MaxHeaderBytes == 0 || l.MaxConnections == 0 || l.MaxInFlight == 0 {
		return errors.New("every bound must be positive")
	}
	return nil
}

// Addrs are the addresses the listeners actually bound (useful with port 0).
type Addrs struct{ Public, User, Internal, Metrics string }

// Start runs Serve in the background and returns once every listener is bound, or Serve's
// error when it failed first. wait blocks until Serve has returned (after ctx is done)
// and reports its error. Tests, the bench and embedders use it.
func Start(ctx context.Context, o Options) (a Addrs, wait func() error, err error) {
	bound := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, o, func(a Addrs) { bound <- a }) }()
	select {
	case a := <-bound:
		return a, func() error { return <-done }, nil
	case err := <-done:
		if err == nil {
			err = errors.New("webhookserver stopped before it listened")
		}
		return Addrs{}, nil, err
	}
}

// Serve runs the listeners until ctx is done, then drains them.
func Serve(ctx context.Context, o Options, ready func(Addrs)) error {
	tokens, err := steptoken.LoadIssuer(o.StepTokenKeyFile)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, o.DatabaseURL, store.MaxConns(int32(o.DatabaseMaxConns)))
	if err != nil {
		return err
	}
	defer st.Close()
	q := o.NoteQueue
	q.Failed = func(kind string, err error) { logger(o).Error(err, "writing a delivery note", "kind", kind) }
	st.SetNoteQueue(q)

	var servers []*http.Server
	var addrs Addrs
	errs := make(chan error, 4)
	// listen serves h on addr within the listener's limits (its defaults where o leaves
	// them zero): no client can hold a connection, a request slot or memory for longer
	// than they allow.
	listen := func(name, addr string, lim Limits, h http.Handler, bound *string, wrap ...func(net.Listener) (net.Listener, error)) error {
		if addr == "" || addr == "0" {
			return nil
		}
		if err := lim.Check(); err != nil {
			return fmt.Errorf("%s listener: %w", name, err)
		}
		lim = lim.Or(DefaultLimits(name))
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return err
		}
		*bound = l.Addr().String()
		l = httpbound.Listener(name, l, lim.MaxConnections)
		for _, w := range wrap {
			if l, err = w(l); err != nil {
				return err
			}
		}
		srv := httpbound.Server(name, h, lim)
		servers = append(servers, srv)
		go func() {
			if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
				errs <- err
			}
		}()
		return nil
	}
	defer func() {
		shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		for _, srv := range servers {
			_ = srv.Shutdown(shutdown)
		}
	}()

	enabled := func(addr string) bool { return addr != "" && addr != "0" }
	var cl *cluster
	if enabled(o.PublicAddr) || enabled(o.UserAddr) {
		if cl, err = newCluster(ctx, o); err != nil {
			return err
		}
	}
	if enabled(o.PublicAddr) {
		public, err := newPublic(ctx, o, st, cl)
		if err != nil {
			return err
		}
		if err := listen("public", o.PublicAddr, o.PublicLimits, public.Handler(), &addrs.Public); err != nil {
			return err
		}
	}
	if enabled(o.UserAddr) {
		if err := cl.start(ctx); err != nil {
			return err
		}
		users, err := newConsole(o, st, cl)
		if err != nil {
			return err
		}
		if err := listen("user", o.UserAddr, o.UserLimits, users.Handler(), &addrs.User); err != nil {
			return err
		}
	}
	api := &stepapi.Server{Store: st, Tokens: tokens, MaxArtifactBytes: o.MaxArtifactBytes, MaxLogBatch: o.MaxLogBatch, Uploads: o.Uploads}
	if err := listen("internal", o.InternalAddr, o.InternalLimits, api.Handler(), &addrs.Internal); err != nil {
		return err
	}
	if err := serveMetrics(o, listen, &addrs.Metrics); err != nil {
		return err
	}
	if ready != nil {
		ready(addrs)
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
		return nil
	}
}

// Registry holds the webhookserver's metrics, served on its metrics listener: the
// process's, and those of each listener.
var Registry = newRegistry()

func newRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	r.MustRegister(hooks.Collectors()...)
	r.MustRegister(billing.Collectors()...)
	r.MustRegister(httpbound.Collectors()...)
	return r
}

// Public is the public listener's servers on one cache: the hooks and, when
// o.StripeWebhookSecretFile is set, Stripe billing.
type Public struct {
	Hooks   *hooks.Server
	Billing *billing.Server // nil when billing is disabled
}

// NewPublic starts an informer cache of its own, the one the public listener reads
// endpoints, Secret metadata and Tenants from, waits for it to sync and builds the
// public listener's servers on it. Serve shares one cache between the public and user
// listeners instead; NewPublic is for tests and embedders that serve the public routes
// on an http.Server of their own.
func NewPublic(ctx context.Context, o Options, st *store.Store) (*Public, error) {
	cl, err := newCluster(ctx, o)
	if err != nil {
		return nil, err
	}
	return newPublic(ctx, o, st, cl)
}

// Handler routes the public listener: the billing route when billing is enabled (else
// it is 404 like any unknown route), everything else to the hooks.
func (p *Public) Handler() http.Handler {
	if p.Billing == nil {
		return p.Hooks.Handler()
	}
	mux := http.NewServeMux()
	mux.Handle(billing.Path, p.Billing)
	mux.Handle("/", p.Hooks.Handler())
	return mux
}

// cluster is the process's one view of Kubernetes, shared by the public and user
// listeners: an informer cache of endpoints, Tenants, Plans and Secret metadata, and a
// direct client for reads that must not be cached (Secrets, Runs) and for writes.
type cluster struct {
	cache  cache.Cache
	client client.Client
	runs   *hooks.RESTRunCreator
	source *hooks.ClusterSource
	config *rest.Config

	started  sync.Once
	startErr error

	gateOnce sync.Once
	admit    *hooks.Gate
}

// gate is the one Gate of the process: deliveries and redeliveries draw on the same
// buckets.
func (cl *cluster) gate(st *store.Store) *hooks.Gate {
	cl.gateOnce.Do(func() { cl.admit = &hooks.Gate{Entitlements: cl.source, Store: st} })
	return cl.admit
}

func newCluster(ctx context.Context, o Options) (*cluster, error) {
	if o.RestConfig == nil {
		return nil, errors.New("the public and user listeners need a Kubernetes config")
	}
	cfg := rest.CopyConfig(o.RestConfig)
	if cfg.QPS == 0 {
		// No client-side throttle (client-go's default is 5/s): every delivery is one
		// create, and the apiserver's priority and fairness is the right place to push back.
		cfg.QPS = -1
	}
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(aiasv1alpha1.AddToScheme(scheme))
	c, err := cache.New(cfg, cache.Options{Scheme: scheme, ByObject: map[client.Object]cache.ByObject{
		// Only what tells a Secret changed: annotations can hold a Secret's data
		// (kubectl's last-applied-configuration), so they are dropped before caching.
		hooks.SecretMetadata(): {Transform: keepIdentityOnly},
	}})
	if err != nil {
		return nil, err
	}
	// One connection pool for the client and the hook listener's Run creator.
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	writer, err := client.New(cfg, client.Options{Scheme: scheme, HTTPClient: httpClient})
	if err != nil {
		return nil, err
	}
	runs, err := hooks.NewRESTRunCreator(cfg, httpClient)
	if err != nil {
		return nil, err
	}
	return &cluster{cache: c, client: writer, runs: runs, config: cfg,
		source: &hooks.ClusterSource{Cache: c, Reader: writer, DefaultPlan: o.DefaultPlan, PastDueGrace: o.PastDueGrace}}, nil
}

// start runs the cache's informers and waits for them to sync; the first listener to
// need it starts it.
func (cl *cluster) start(ctx context.Context) error {
	cl.started.Do(func() {
		go func() { _ = cl.cache.Start(ctx) }()
		if err := cl.source.Warm(ctx); err != nil {
			cl.startErr = err
			return
		}
		if !cl.cache.WaitForCacheSync(ctx) {
			cl.startErr = errors.New("the endpoint cache did not sync")
		}
	})
	return cl.startErr
}

// newPublic builds the public listener's servers on the shared cache: the hooks and,
// when o.StripeWebhookSecretFile is set, billing (nil otherwise).
func newPublic(ctx context.Context, o Options, st *store.Store, cl *cluster) (*Public, error) {
	p := &Public{}
	var err error
	if o.StripeWebhookSecretFile != "" {
		if p.Billing, err = billing.New(ctx, o.StripeWebhookSecretFile, cl.cache, cl.client, st); err != nil {
			return nil, err
		}
	}
	if err := cl.start(ctx); err != nil {
		return nil, err
	}
	log := logger(o)
	if p.Billing != nil {
		p.Billing.Log = log.WithName("billing")
	}
	p.Hooks = &hooks.Server{Endpoints: cl.source, Runs: cl.runs, Store: st, Log: log.WithName("hooks"), Gate: cl.gate(st), Limits: o.Hooks}
	return p, nil
}

// newConsole builds the user listener's server on the shared cache.
func newConsole(o Options, st *store.Store, cl *cluster) (*console.Server, error) {
	users, err := console.New(cl.config)
	if err != nil {
		return nil, err
	}
	users.Store, users.Client, users.Cache, users.Source, users.Gate = st, cl.client, cl.cache, cl.source, cl.gate(st)
	users.PublicBaseURL, users.Log = o.PublicBaseURL, logger(o).WithName("userapi")
	users.Follows = o.UserFollows
	users.Requests = o.UserRequests
	return users, nil
}

// logger is o.Log, or a logger that discards when there is none.
func logger(o Options) logr.Logger {
	if o.Log.GetSink() == nil {
		return logr.Discard()
	}
	return o.Log
}

// keepIdentityOnly strips a cached object's metadata down to what identifies a version.
func keepIdentityOnly(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.Annotations, m.ManagedFields, m.Labels, m.OwnerReferences = nil, nil, nil, nil
	}
	return obj, nil
}
