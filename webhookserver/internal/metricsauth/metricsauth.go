// Package metricsauth guards the webhookserver's metrics listener as the manager's is
// guarded (controller-runtime's secure metrics): a caller needs a Kubernetes bearer token
// (TokenReview) whose user may `get` the non-resource URL it asks for, /metrics
// (SubjectAccessReview; the ClusterRole aias-metrics-reader grants it), and the listener
// speaks TLS with a certificate generated at start, so the token never crosses the network
// in the clear.
package metricsauth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	certutil "k8s.io/client-go/util/cert"

	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// Reasons of the listener's refusals.
const (
	ReasonUnauthorized = "Unauthorized"
	ReasonForbidden    = "Forbidden"
	ReasonUnavailable  = "Unavailable"
)

// Decisions are cached briefly per token and URL, in a cache of bounded size (the oldest
// decisions go first), so a scraper costs one TokenReview and one SubjectAccessReview per
// TTL, a revoked token or binding takes effect within seconds, and a flood of made-up
// tokens costs at most CacheSize entries (and no more reviews than the listener's
// requests in flight allow).
const (
	CacheSize = 1024
	AllowTTL  = 10 * time.Second
	DenyTTL   = 5 * time.Second
)

// Guard authenticates and authorizes the metrics listener's callers.
type Guard struct {
	authn authenticator.Request
	authz authorizer.Authorizer
	// decisions maps sha256(token, verb, path) to the verdict (a *refusal, nil: allowed).
	decisions *utilcache.LRUExpireCache
}

// refusal is how a request was refused: an HTTP status, a reason and a message.
type refusal struct {
	status  int
	reason  string
	message string
}

// New builds a Guard that asks the apiserver at cfg (the webhookserver's own identity,
// which may create TokenReviews and SubjectAccessReviews).
func New(cfg *rest.Config) (*Guard, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	backoff := &wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 4}
	// Neither review is cached by k8s.io/apiserver here (its token cache has no size
	// bound); the Guard caches the combined decision in a bounded cache instead.
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		TokenAccessReviewClient:  cs.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("token review: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: cs.AuthorizationV1(),
		AllowCacheTTL:             AllowTTL,
		DenyCacheTTL:              DenyTTL,
		WebhookRetryBackoff:       backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("subject access review: %w", err)
	}
	return &Guard{authn: authn, authz: authz, decisions: utilcache.NewLRUExpireCache(CacheSize)}, nil
}

// Handler serves next to callers allowed to `get` the request's path: without a token the
// answer is 401 Unauthorized, with one the apiserver does not know 401, with one whose user
// may not 403 Forbidden, and 503 Unavailable when the apiserver cannot be asked.
func (g *Guard) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ref := g.check(r); ref != nil {
			if ref.status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="aias-metrics"`)
			}
			httpjson.Error(w, ref.status, ref.reason, ref.message)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func (g *Guard) check(r *http.Request) *refusal {
	token, ok := bearerToken(r)
	if !ok {
		return &refusal{http.StatusUnauthorized, ReasonUnauthorized, "metrics need a Kubernetes bearer token (Authorization: Bearer <token>)"}
	}
	verb := strings.ToLower(r.Method)
	if r.Method == http.MethodHead {
		verb = "get"
	}
	sum := sha256.Sum256([]byte(token + "\x00" + verb + "\x00" + r.URL.Path))
	key := string(sum[:])
	if v, ok := g.decisions.Get(key); ok {
		ref, _ := v.(*refusal)
		return ref
	}
	ref := g.review(r.Context(), token, verb, r.URL.Path)
	switch {
	case ref == nil:
		g.decisions.Add(key, (*refusal)(nil), AllowTTL)
	case ref.status != http.StatusServiceUnavailable: // an outage is not the caller's verdict
		g.decisions.Add(key, ref, DenyTTL)
	}
	return ref
}

// review asks the apiserver who the token is and whether that user may verb the path.
func (g *Guard) review(ctx context.Context, token, verb, path string) *refusal {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, ok, err := g.authn.AuthenticateRequest(req)
	if err != nil && reviewFailed(err) {
		return &refusal{http.StatusServiceUnavailable, ReasonUnavailable, "could not review the token with the Kubernetes API"}
	}
	if err != nil || !ok {
		return &refusal{http.StatusUnauthorized, ReasonUnauthorized, "the token is not valid for this cluster"}
	}
	decision, _, err := g.authz.Authorize(ctx, authorizer.AttributesRecord{User: resp.User, Verb: verb, Path: path})
	switch {
	case decision == authorizer.DecisionAllow:
		return nil
	case err != nil:
		return &refusal{http.StatusServiceUnavailable, ReasonUnavailable, "could not review the caller's access with the Kubernetes API"}
	}
	return &refusal{http.StatusForbidden, ReasonForbidden,
		fmt.Sprintf("%s may not %s %s (bind it to the ClusterRole aias-metrics-reader)", resp.User.GetName(), verb, path)}
}

// bearerToken is the token of the request's Authorization header.
func bearerToken(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	tok = strings.TrimSpace(tok)
	return tok, ok && strings.EqualFold(scheme, "Bearer") && tok != ""
}

// reviewFailed tells an outage (the review could not be made) from the review's verdict,
// which the delegating authenticator also returns as an error, one without a type.
func reviewFailed(err error) bool {
	var status apierrors.APIStatus
	var urlErr *url.Error
	return errors.As(err, &status) || errors.As(err, &urlErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// TLSListener wraps ln in TLS with a self-signed certificate generated now (as
// controller-runtime's secure metrics do): scrapers skip verification (the ServiceMonitor's
// insecureSkipVerify) but the token they send is encrypted.
func TLSListener(ln net.Listener) (net.Listener, error) {
	cert, key, err := certutil.GenerateSelfSignedCertKeyWithFixtures("localhost", []net.IP{{127, 0, 0, 1}}, nil, "")
	if err != nil {
		return nil, fmt.Errorf("generating the metrics listener's certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(cert, key)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}), nil
}
