package console

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/authenticatorfactory"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/authorization/authorizerfactory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// The user API asks the apiserver who a token belongs to and what that user may do.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

const (
	sessionCookie = "aias_session"
	csrfCookie    = "aias_csrf"
	csrfHeader    = "X-CSRF-Token"

	// Decisions are cached briefly: a UI page makes a handful of calls that need the same
	// answers, and a revoked binding or token still takes effect within seconds.
	authnCacheTTL = 10 * time.Second
	allowCacheTTL = 10 * time.Second
	denyCacheTTL  = 5 * time.Second
)

// access authenticates bearer tokens with TokenReview and authorizes with
// SubjectAccessReview, both through k8s.io/apiserver's delegating implementations (the
// ones kube-rbac-proxy and controller-runtime's metrics filter use), which cache answers.
type access struct {
	authn authenticator.Request
	authz authorizer.Authorizer
	// fresh asks the apiserver every time, for the re-checks of a long-lived stream: a
	// cached answer would stretch the time a revoked caller keeps reading.
	fresh *reviewers
}

// reviewers are a TokenReview authenticator and a SubjectAccessReview authorizer.
type reviewers struct {
	authn authenticator.Request
	authz authorizer.Authorizer
}

func newAccess(cfg *rest.Config) (*access, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	cached, err := newReviewers(cs, authnCacheTTL, allowCacheTTL, denyCacheTTL)
	if err != nil {
		return nil, err
	}
	fresh, err := newReviewers(cs, 0, 0, 0) // a TTL of 0 bypasses the caches
	if err != nil {
		return nil, err
	}
	return &access{authn: cached.authn, authz: cached.authz, fresh: fresh}, nil
}

func newReviewers(cs *kubernetes.Clientset, authnTTL, allowTTL, denyTTL time.Duration) (*reviewers, error) {
	backoff := &wait.Backoff{Duration: 200 * time.Millisecond, Factor: 2, Jitter: 0.2, Steps: 4}
	authn, _, err := authenticatorfactory.DelegatingAuthenticatorConfig{
		TokenAccessReviewClient:  cs.AuthenticationV1(),
		TokenAccessReviewTimeout: 10 * time.Second,
		WebhookRetryBackoff:      backoff,
		CacheTTL:                 authnTTL,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("token review: %w", err)
	}
	authz, err := authorizerfactory.DelegatingAuthorizerConfig{
		SubjectAccessReviewClient: cs.AuthorizationV1(),
		AllowCacheTTL:             allowTTL,
		DenyCacheTTL:              denyTTL,
		WebhookRetryBackoff:       backoff,
	}.New()
	if err != nil {
		return nil, fmt.Errorf("subject access review: %w", err)
	}
	return &reviewers{authn: authn, authz: authz}, nil
}

// caller is an authenticated request's user and how it proved it.
type caller struct {
	user.Info
	// viaCookie is true when the token came from the UI's session cookie; such requests
	// must pass the CSRF check to change anything.
	viaCookie bool
}

type callerKey struct{}

func callerFrom(ctx context.Context) caller { c, _ := ctx.Value(callerKey{}).(caller); return c }

// bearerToken is the request's token: the Authorization header, else the session cookie.
func bearerToken(r *http.Request) (token string, viaCookie bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			return strings.TrimSpace(tok), false
		}
		return "", false
	}
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		return c.Value, true
	}
	return "", false
}

// authenticate resolves a token to a user (nil when the apiserver does not know it).
func (a *access) authenticate(ctx context.Context, token string) (user.Info, error) {
	return authenticateWith(ctx, a.authn, token)
}

func authenticateWith(ctx context.Context, authn authenticator.Request, token string) (user.Info, error) {
	if token == "" {
		return nil, nil
	}
	// The delegating authenticator reads the token from the Authorization header of a
	// request; hand it a bare one so a cookie's token takes the same path.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, ok, err := authn.AuthenticateRequest(req)
	if err != nil && !reviewFailed(err) {
		return nil, nil // the apiserver answered: not a valid token (expired, wrong audience, …)
	}
	if err != nil || !ok {
		return nil, err
	}
	return resp.User, nil
}

// reviewFailed tells an outage (the TokenReview could not be made) from the review's own
// verdict, which the delegating authenticator also returns as an error, one without a type.
func reviewFailed(err error) bool {
	var status apierrors.APIStatus
	var urlErr *url.Error
	return errors.As(err, &status) || errors.As(err, &urlErr) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// userOf resolves a token, or answers 401 (unknown token) or 503 (no review possible).
func (a *access) userOf(w http.ResponseWriter, r *http.Request, token string) (user.Info, bool) {
	u, err := a.authenticate(r.Context(), token)
	if err != nil {
		httpjson.Error(w, http.StatusServiceUnavailable, "Unavailable", "could not review the token with the Kubernetes API")
		return nil, false
	}
	if u == nil {
		httpjson.Error(w, http.StatusUnauthorized, "Unauthorized", "the token is not valid for this cluster")
		return nil, false
	}
	return u, true
}

// authenticated wraps h: no or an unknown token is 401; a cookie-authenticated request
// that changes something must come from this origin and carry the CSRF header matching
// the CSRF cookie.
func (a *access) authenticated(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, viaCookie := bearerToken(r)
		if token == "" {
			httpjson.Error(w, http.StatusUnauthorized, "Unauthorized", "a Kubernetes bearer token is required (Authorization: Bearer …, or log in to the UI)")
			return
		}
		u, ok := a.userOf(w, r, token)
		if !ok {
			return
		}
		if viaCookie && r.Method != http.MethodGet && r.Method != http.MethodHead {
			if !sameOrigin(r) {
				httpjson.Error(w, http.StatusForbidden, "Forbidden", "cross-origin request refused")
				return
			}
			if !csrfOK(r) {
				httpjson.Error(w, http.StatusForbidden, "Forbidden", "missing or wrong "+csrfHeader+" header")
				return
			}
		}
		ctx := context.WithValue(r.Context(), callerKey{}, caller{Info: u, viaCookie: viaCookie})
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// csrfOK is the double-submit check: a page of another origin can make the browser send
// the cookies, but cannot read the CSRF cookie to copy it into a header.
func csrfOK(r *http.Request) bool {
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.Header.Get(csrfHeader))) == 1
}

// check is one question for SubjectAccessReview: may the caller do verb on the aias
// resource (and subresource) in namespace?
type check struct {
	Verb, Resource, Subresource, Name string
}

// allowed asks the authorizer; it answers false with a message for the 403 body.
func (a *access) allowed(ctx context.Context, u user.Info, namespace string, c check) (bool, string, error) {
	return allowedBy(ctx, a.authz, u, namespace, c)
}

// stillAllowed asks the apiserver again, past every cache, whether token is valid and
// its user may do c in namespace: false with a message when either answer is no.
func (a *access) stillAllowed(ctx context.Context, token, namespace string, c check) (bool, string, error) {
	u, err := authenticateWith(ctx, a.fresh.authn, token)
	if err != nil {
		return false, "", err
	}
	if u == nil {
		return false, "the token is no longer valid for this cluster", nil
	}
	return allowedBy(ctx, a.fresh.authz, u, namespace, c)
}

func allowedBy(ctx context.Context, authz authorizer.Authorizer, u user.Info, namespace string, c check) (bool, string, error) {
	d, reason, err := authz.Authorize(ctx, authorizer.AttributesRecord{
		User: u, Verb: c.Verb, Namespace: namespace, APIGroup: "aias.dev", APIVersion: "v1alpha1",
		Resource: c.Resource, Subresource: c.Subresource, Name: c.Name, ResourceRequest: true,
	})
	if err != nil && d != authorizer.DecisionAllow {
		return false, "", err
	}
	if d == authorizer.DecisionAllow {
		return true, "", nil
	}
	res := c.Resource
	if c.Subresource != "" {
		res += "/" + c.Subresource
	}
	msg := fmt.Sprintf("%s cannot %s %s.aias.dev in namespace %q", u.GetName(), c.Verb, res, namespace)
	if reason != "" {
		msg += ": " + reason
	}
	return false, msg, nil
}

// login checks a pasted token and keeps it in an HttpOnly, SameSite=Strict cookie that
// scripts cannot read, next to a random CSRF token that the UI's scripts echo on POSTs.
func (a *access) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		// Another site could otherwise sign a visitor in as the attacker (login CSRF).
		httpjson.Error(w, http.StatusForbidden, "Forbidden", "cross-origin login refused")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	token := strings.TrimSpace(r.PostFormValue("token"))
	if token == "" {
		httpjson.Error(w, http.StatusBadRequest, "BadRequest", "form field token is required")
		return
	}
	if _, ok := a.userOf(w, r, token); !ok {
		return
	}
	csrf := make([]byte, 32)
	_, _ = rand.Read(csrf)
	secure := r.TLS != nil || strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: token, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds())})
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: base64.RawURLEncoding.EncodeToString(csrf), Path: "/", Secure: secure,
		SameSite: http.SameSiteStrictMode, MaxAge: int((12 * time.Hour).Seconds())})
	w.WriteHeader(http.StatusNoContent) // the UI asks /api/v1/whoami next
}

// sameOrigin tells whether a state-changing request may come from a page of another
// origin: it accepts a request without an Origin header (not a browser: browsers send
// Origin on every cross-origin POST) and one whose Origin is this listener's own, an
// http(s) origin whose host is the Host the client addressed or, behind a proxy, the
// first X-Forwarded-Host. Every other Origin is refused, "null" among them (what a
// sandboxed frame, a file: page or a cross-origin redirect sends; it matches no host,
// and an empty X-Forwarded-Host must not make it match), and so is a request whose
// Sec-Fetch-Site says a browser sent it for another site.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" && site != "none" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	fwd, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
	fwd = strings.TrimSpace(fwd)
	return fwd != "" && strings.EqualFold(u.Host, fwd)
}

// logout drops the session cookies. It needs this origin and the CSRF header like any
// other POST, so a foreign page cannot log the user out either.
func (a *access) logout(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		httpjson.Error(w, http.StatusForbidden, "Forbidden", "cross-origin logout refused")
		return
	}
	if !csrfOK(r) {
		httpjson.Error(w, http.StatusForbidden, "Forbidden", "missing or wrong "+csrfHeader+" header")
		return
	}
	for _, name := range []string{sessionCookie, csrfCookie} {
		http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1, SameSite: http.SameSiteStrictMode})
	}
	w.WriteHeader(http.StatusNoContent)
}
