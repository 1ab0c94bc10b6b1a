// Package hooks serves the public hook listener: POST /hooks/{namespace}/{endpoint}
// turns each verified delivery into exactly one Run.
package hooks

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"golang.org/x/sync/semaphore"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
	"github.com/aias-dev/aias/internal/runs"
	"github.com/aias-dev/aias/internal/signature"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/httpbound"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
	"github.com/aias-dev/aias/webhookserver/internal/intake"
)

// DefaultMaxBodyBytes applies when an endpoint sets no maxBodyBytes (the schema default).
const DefaultMaxBodyBytes = 1 << 20

// Server is the public hook listener: POST /hooks/{namespace}/{endpoint}. Each delivery is
// looked up, verified as its body streams in, admitted by the Gate and turned into exactly
// one Run, named after the endpoint's UID and the delivery id so that a redelivery — even
// concurrent ones — finds the Run the first one created.
type Server struct {
	Endpoints EndpointSource
	// Runs creates Runs; it needs no other permission.
	Runs  RunCreator
	Store *store.Store
	Log   logr.Logger
	Now   func() time.Time
	// Gate admits verified deliveries; the webhookserver shares one with redelivery from
	// the console. Nil: the server makes its own.
	Gate *Gate
	// Limits bound what deliveries may hold; a zero field takes its default.
	Limits Limits

	programs programs
	once     sync.Once
	bodies   *semaphore.Weighted
	nsBodies *httpbound.KeyedBytes
	inFlight *httpbound.KeyedSlots
	sources  *sources
}

// Limits bound the hook listener's deliveries beyond the listener's own caps
// (httpbound.Limits). docs/security.md, "Every bound", lists them.
type Limits struct {
	// BodyBytesInFlight caps the bytes of request bodies held at once across every
	// connection; a delivery that would pass it is answered 503 with Retry-After.
	BodyBytesInFlight int64
	// BodyBytesPerNamespace caps one namespace's share of it (of the URL's namespace), so
	// that one tenant's senders cannot hold all of it; at least the largest maxBodyBytes.
	BodyBytesPerNamespace int64
	// InFlightPerNamespace caps the deliveries served at once per namespace (of the URL,
	// so the same whether the endpoint exists or not), so that one tenant's senders cannot
	// take every one of the listener's in-flight slots.
	InFlightPerNamespace int
	// UnverifiedPerMinute and UnverifiedBurst are each source address's budget of
	// deliveries that do not verify; past it the source is answered 429 at once.
	UnverifiedPerMinute, UnverifiedBurst int
	// TrustedProxies are the peers (a load balancer, an ingress controller) whose
	// X-Forwarded-For names the source instead of themselves.
	TrustedProxies []netip.Prefix
}

// DefaultLimits are the Limits a zero field takes.
func DefaultLimits() Limits {
	return Limits{BodyBytesInFlight: 48 << 20, BodyBytesPerNamespace: 34 << 20, InFlightPerNamespace: 64, UnverifiedPerMinute: 120, UnverifiedBurst: 60}
}

func (l Limits) or(d Limits) Limits {
	if l.BodyBytesInFlight <= 0 {
		l.BodyBytesInFlight = d.BodyBytesInFlight
	}
	if l.BodyBytesPerNamespace <= 0 {
		l.BodyBytesPerNamespace = d.BodyBytesPerNamespace
	}
	if l.InFlightPerNamespace <= 0 {
		l.InFlightPerNamespace = d.InFlightPerNamespace
	}
	if l.UnverifiedPerMinute <= 0 {
		l.UnverifiedPerMinute = d.UnverifiedPerMinute
	}
	if l.UnverifiedBurst <= 0 {
		l.UnverifiedBurst = d.UnverifiedBurst
	}
	return l
}

func (s *Server) init() {
	s.once.Do(func() {
		l := s.Limits.or(DefaultLimits())
		s.bodies = semaphore.NewWeighted(l.BodyBytesInFlight)
		s.nsBodies = httpbound.NewKeyedBytes(l.BodyBytesPerNamespace)
		s.inFlight = httpbound.NewKeyedSlots(l.InFlightPerNamespace)
		s.sources = &sources{perMinute: l.UnverifiedPerMinute, burst: l.UnverifiedBurst, trusted: l.TrustedProxies}
		if s.Gate == nil {
			s.Gate = &Gate{Entitlements: s.Endpoints, Store: s.Store, Now: s.Now}
		}
	})
}

// Handler routes the public listener. Anything but POST /hooks/... is 404 or 405.
func (s *Server) Handler() http.Handler {
	s.init()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hooks/{namespace}/{endpoint}", s.deliver)
	mux.HandleFunc("/hooks/{namespace}/{endpoint}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", http.MethodPost)
		httpjson.Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "deliveries are POSTed")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "no such route")
	})
	return mux
}

// deliveryResult is the outcome label of the deliveries metric and the log line.
type deliveryResult string

const (
	resultCreated       deliveryResult = "created"
	resultDuplicate     deliveryResult = "duplicate"
	resultNotFound      deliveryResult = "not_found"
	resultSuspended     deliveryResult = "suspended"
	resultTooLarge      deliveryResult = "too_large"
	resultMalformed     deliveryResult = "malformed"
	resultInvalid       deliveryResult = "unauthorized"
	resultRateLimited   deliveryResult = "rate_limited"
	resultUnavailable   deliveryResult = "unavailable"
	resultQuotaExceeded deliveryResult = "quota_exceeded"
	resultRejected      deliveryResult = "rejected"
	resultFiltered      deliveryResult = "filtered"
	resultExprFailed    deliveryResult = "expression_failed"
)

// ReasonUnverified answers every delivery that is not verified — to an endpoint that does
// not exist, has no usable key, or whose signature, token or headers do not check out —
// with one status and one body, so that nobody without the key learns whether an
// endpoint exists, how large a body it takes or whether it is suspended. The endpoint's
// owner sees the precise reason in its delivery log.
const (
	ReasonUnverified  = "Unverified"
	messageUnverified = "the delivery was not accepted: no endpoint at this URL verifies it (the endpoint may not exist, or the delivery is not signed with its key)"
)

// deliver handles one delivery. The order matters: a source that keeps sending what does
// not verify is turned away before anything, nothing is held past the body budget and the
// endpoint's cap, nothing is trusted or told before the signature is verified, and every
// verified delivery passes the Gate before anything else happens to it.
func (s *Server) deliver(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("endpoint")
	entry := &logEntry{received: s.now(), size: max(r.ContentLength, 0)}
	r = withLogEntry(r, entry)
	source := s.sources.addrOf(r)
	if wait, ok := s.sources.mayTry(source, entry.received); !ok {
		setRetryAfter(w, wait)
		s.finish(w, r, "", "", "", resultRateLimited, http.StatusTooManyRequests, "RateLimited",
			"too many deliveries from this address did not verify; retry later")
		return
	}
	if !s.inFlight.TryAcquire(ns) {
		w.Header().Set("Retry-After", "1")
		s.finish(w, r, "", "", "", resultUnavailable, http.StatusServiceUnavailable, "Overloaded",
			fmt.Sprintf("the hook listener is serving its maximum of %d deliveries for this namespace; retry shortly", s.inFlight.Max()))
		return
	}
	defer s.inFlight.Release(ns)

	ep, verifier, unverified, err := s.prepare(r, ns, name)
	if err != nil {
		w.Header().Set("Retry-After", "5")
		s.finish(w, r, "", "", "", resultUnavailable, http.StatusServiceUnavailable, "Unavailable", "signing keys could not be read")
		return
	}
	entry.ep = ep
	limit := int64(DefaultMaxBodyBytes)
	if ep != nil && ep.Spec.MaxBodyBytes != nil {
		limit = *ep.Spec.MaxBodyBytes
	}
	if verifier == nil {
		n := intake.Discard(r, limit)
		s.sources.charge(source, s.now(), n)
		s.refuseUnverified(w, r, unverified)
		return
	}
	in, release, err := intake.Read(r, verifier, intake.Shares{s.bodies, s.nsBodies.For(ns)}, limit, hashLimit(limit))
	defer release()
	entry.size = in.Size
	switch {
	case errors.Is(err, intake.ErrBudget):
		w.Header().Set("Retry-After", "1")
		s.finish(w, r, "", "", "", resultUnavailable, http.StatusServiceUnavailable, "Overloaded",
			"the hook listener holds its maximum of request bodies; retry shortly")
		return
	case err != nil:
		s.sources.charge(source, s.now(), in.Size)
		s.refuseUnverified(w, r, unverifiedBecause(resultMalformed, "BadBody", "the body could not be read"))
		return
	}
	start := time.Now()
	err = verifier.Verify()
	verificationSeconds.WithLabelValues(string(signature.ConfigFor(ep.Spec.Verification).Scheme)).Observe(time.Since(start).Seconds())
	if !in.HashedAll {
		err = &signature.Error{Status: http.StatusUnauthorized, Reason: "TooLarge",
			Message: fmt.Sprintf("the body exceeds %d bytes, far past the endpoint's maxBodyBytes, and was not read to the end", hashLimit(limit))}
	}
	if err != nil {
		s.sources.charge(source, s.now(), in.Size)
		s.refuseUnverified(w, r, unverifiedOf(err))
		return
	}

	// Verified: from here the sender holds the key and is told what happened.
	sum := verifier.BodySHA256()
	entry.setBody(&in, sum)
	var idBody []byte
	if verifier.IDFromBody() {
		idBody = in.Bytes()
	}
	deliveryID := verifier.DeliveryID(idBody)
	ent, refusal := s.Gate.Admit(r.Context(), ep, in.Size)
	s.verifiedDelivery(r, entry, ent)
	if refusal != nil {
		if refusal.RetryAfter > 0 {
			setRetryAfter(w, refusal.RetryAfter)
		}
		s.finish(w, r, ns, name, deliveryID, refusal.result, refusal.Status, refusal.Reason, refusal.Message)
		return
	}
	if in.TooLarge {
		s.finish(w, r, ns, name, deliveryID, resultTooLarge, http.StatusRequestEntityTooLarge, "TooLarge", fmt.Sprintf("the body exceeds %d bytes", limit))
		return
	}
	contentType := r.Header.Get("Content-Type")
	if bad := store.CheckContentType(contentType); contentType != "" && bad != nil {
		s.finish(w, r, ns, name, deliveryID, resultMalformed, http.StatusBadRequest, bad.Reason, bad.Message)
		return
	}
	body := in.Bytes()
	// Only a verified delivery is shown to the endpoint's expressions: nothing an
	// unauthenticated sender controls is evaluated.
	prg, err := s.programs.For(ep)
	if err != nil {
		s.finish(w, r, ns, name, deliveryID, resultExprFailed, http.StatusUnprocessableEntity, "InvalidExpression", err.Error())
		return
	}
	evaluated, err := prg.Evaluate(r.Context(), deliveryexpr.Delivery{Body: body, Header: r.Header, DeliveryID: deliveryID})
	if err != nil {
		s.finish(w, r, ns, name, deliveryID, resultExprFailed, http.StatusUnprocessableEntity, "ExpressionFailed", "evaluating the endpoint's "+err.Error())
		return
	}
	if !evaluated.Passed {
		s.respond(w, r, ns, name, deliveryID, resultFiltered, http.StatusOK, "", "filtered")
		return
	}

	// From here the delivery is authentic and wanted: it is recorded before anything
	// acts on it, and a delivery the ledger already holds is answered from it.
	deliveryID, prev, err := s.record(r.Context(), ep, deliveryID, sum, int64(len(body)))
	if err != nil {
		s.Log.Error(err, "recording the delivery", "namespace", ns, "endpoint", name, "deliveryID", deliveryID)
		w.Header().Set("Retry-After", "5")
		s.finish(w, r, ns, name, deliveryID, resultUnavailable, http.StatusServiceUnavailable, "Unavailable", "the delivery could not be recorded; retry later")
		return
	}
	if prev != nil && prev.Outcome == store.DeliveryCreated {
		s.duplicate(w, r, ep, deliveryID, prev.RunName)
		return
	}

	run, err := s.newRun(r.Context(), ep, deliveryID, body, contentType, evaluated.Params)
	if err == nil {
		err = s.Runs.Create(r.Context(), run)
	}
	switch {
	case err == nil:
		s.markCreated(ep, deliveryID)
		s.respond(w, r, ns, name, deliveryID, resultCreated, http.StatusAccepted, run.Name, "created")
	case apierrors.IsAlreadyExists(err):
		// A concurrent delivery of the same id, or this one before a restart, created it.
		s.markCreated(ep, deliveryID)
		s.duplicate(w, r, ep, deliveryID, run.Name)
	case apierrors.IsInvalid(err):
		// The apiserver refused the Run for something the delivery carries; retrying the
		// same delivery cannot succeed, so the sender is told (and not asked to retry).
		s.finish(w, r, ns, name, deliveryID, resultMalformed, http.StatusBadRequest, "InvalidRun", "the delivery cannot become a run: "+invalidCauses(err))
	default:
		s.Log.Error(err, "creating run", "namespace", ns, "endpoint", name, "deliveryID", deliveryID)
		w.Header().Set("Retry-After", "5")
		s.finish(w, r, ns, name, deliveryID, resultUnavailable, http.StatusServiceUnavailable, "Unavailable", "the run could not be created; retry later")
	}
}

// hashLimit is how much of a body over its endpoint's cap is still read and hashed, so
// that a sender holding the key is told 413 rather than 401: as much again as the cap,
// and at least 1 MiB more. Past it the delivery cannot be verified.
func hashLimit(limit int64) int64 { return limit + max(limit, 1<<20) }

// unverifiedReason is why a delivery did not verify, for the endpoint's delivery log;
// the sender is told only ReasonUnverified.
type unverifiedReason struct {
	result deliveryResult
	reason string
	detail string
}

func unverifiedBecause(result deliveryResult, reason, detail string) unverifiedReason {
	return unverifiedReason{result: result, reason: reason, detail: detail}
}

// unverifiedOf maps what the verifier said to the log's reason.
func unverifiedOf(err error) unverifiedReason {
	var sigErr *signature.Error
	switch {
	case errors.As(err, &sigErr) && sigErr.Status == http.StatusBadRequest:
		return unverifiedBecause(resultMalformed, sigErr.Reason, sigErr.Message)
	case errors.As(err, &sigErr):
		return unverifiedBecause(resultInvalid, sigErr.Reason, sigErr.Message)
	default:
		// The endpoint has no usable signing key (its Secret is missing, empty or
		// unusable by the scheme): nothing can verify; its Ready condition says why.
		return unverifiedBecause(resultInvalid, "NoSigningKey", "the endpoint has no usable signing key (see its Ready condition)")
	}
}

// prepare finds the endpoint and starts its verifier. A nil verifier means the delivery
// cannot verify (unverified says why); an error means the keys could not be read now.
func (s *Server) prepare(r *http.Request, ns, name string) (*aiasv1alpha1.WebhookEndpoint, *signature.Verifier, unverifiedReason, error) {
	ep, err := s.Endpoints.Endpoint(r.Context(), ns, name)
	if err != nil {
		return nil, nil, unverifiedBecause(resultNotFound, "NotFound", "no such webhook endpoint"), nil
	}
	secretName := ep.SigningSecretName()
	if secretName == "" {
		return ep, nil, unverifiedOf(signature.ErrNoKeys), nil
	}
	keys, err := s.Endpoints.Keys(r.Context(), ep.Namespace, secretName)
	if err != nil {
		return ep, nil, unverifiedReason{}, err
	}
	if len(keys) == 0 {
		return ep, nil, unverifiedOf(signature.ErrNoKeys), nil
	}
	v, err := signature.NewVerifier(signature.ConfigFor(ep.Spec.Verification), keys, r.Header, s.now())
	if err != nil {
		return ep, nil, unverifiedOf(err), nil
	}
	return ep, v, unverifiedReason{}, nil
}

// refuseUnverified answers a delivery that did not verify with the one answer every such
// delivery gets, and logs the precise reason for the endpoint's owner.
func (s *Server) refuseUnverified(w http.ResponseWriter, r *http.Request, why unverifiedReason) {
	e := logEntryOf(r)
	ns, name := "", ""
	if e != nil && e.ep != nil {
		ns, name = e.ep.Namespace, e.ep.Name
	}
	deliveries.WithLabelValues(ns, name, string(why.result)).Inc()
	_ = s.logDelivery(r, "", why.result, http.StatusUnauthorized, why.reason, "")
	s.Log.V(1).Info("delivery refused", "namespace", ns, "endpoint", name, "result", why.result, "reason", why.reason)
	httpjson.Error(w, http.StatusUnauthorized, ReasonUnverified, messageUnverified)
}

// setRetryAfter sets Retry-After to wait in whole seconds, at least 1 and at most a day.
func setRetryAfter(w http.ResponseWriter, wait time.Duration) {
	secs := min(max(int64(wait.Seconds()+0.999), 1), 86400)
	w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
}

// record puts the verified delivery in the ledger. It returns the delivery id the Run is
// named after — the delivery's own, or for a body already delivered under another id
// (ReplayableID schemes) that delivery's — and the earlier record, if any.
func (s *Server) record(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint, deliveryID string, sum [sha256.Size]byte, size int64) (string, *store.RecordedDelivery, error) {
	cfg := signature.ConfigFor(ep.Spec.Verification)
	prev, err := s.Store.RecordDelivery(ctx, store.Delivery{
		EndpointUID: string(ep.UID), DeliveryID: deliveryID,
		Namespace: ep.Namespace, Endpoint: ep.Name,
		BodySHA256: sum, BodySize: size,
		DedupByBody: cfg.ReplayableID(),
		RunName:     RunName(ep, deliveryID),
		ReceivedAt:  s.now(),
		Window:      signature.ReplayWindowFor(ep.Spec),
	})
	if err != nil || prev == nil {
		return deliveryID, nil, err
	}
	return prev.DeliveryID, prev, nil
}

// markCreated notes in the ledger that the delivery's Run exists, without holding the
// response for it: it is a fast path only. The Run controller marks the row durably when
// it first indexes the Run (store.UpsertRun); until one of the two lands the row is
// pending, and a redelivery then creates the Run by name, which finds it (AlreadyExists).
func (s *Server) markCreated(ep *aiasv1alpha1.WebhookEndpoint, deliveryID string) {
	if err := s.Store.EnqueueDeliveryMark(string(ep.UID), deliveryID); err != nil {
		notesDropped.WithLabelValues("mark").Inc() // the Run controller marks it anyway
	}
}

// duplicate answers a delivery the ledger already holds: 200 "duplicate" with its Run,
// unless that Run was rejected — then the sender is told with 409, because resending
// cannot start it (a replay from the console or `aias replay` can, once the cause is
// fixed).
func (s *Server) duplicate(w http.ResponseWriter, r *http.Request, ep *aiasv1alpha1.WebhookEndpoint, deliveryID, runName string) {
	if rec, err := s.Store.GetRun(r.Context(), ep.Namespace, runName); err == nil && rec.Phase == string(aiasv1alpha1.RunRejected) {
		s.finish(w, r, ep.Namespace, ep.Name, deliveryID, resultRejected, http.StatusConflict, "RunRejected",
			fmt.Sprintf("this delivery's run %s was rejected (kubectl describe run %s -n %s); resending it starts nothing", runName, runName, ep.Namespace))
		return
	}
	s.respond(w, r, ep.Namespace, ep.Name, deliveryID, resultDuplicate, http.StatusOK, runName, "duplicate")
}

// invalidCauses lists the fields the apiserver named, never their values.
func invalidCauses(err error) string {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil || len(status.Status().Details.Causes) == 0 {
		return "the run is invalid"
	}
	var fields []string
	for _, c := range status.Status().Details.Causes {
		fields = append(fields, c.Field)
	}
	return "invalid " + strings.Join(fields, ", ")
}

// RunName is the Run a delivery maps to (runs.DeliveryName, the name runs.New gives it):
// the endpoint's name for people, and a hash of the endpoint's UID and the delivery id
// for uniqueness. A recreated endpoint (new UID) starts a fresh series; a redelivery maps
// to the same name.
func RunName(ep *aiasv1alpha1.WebhookEndpoint, deliveryID string) string {
	return runs.DeliveryName(ep.Name, string(ep.UID), deliveryID)
}

// newRun builds the Run of a verified delivery; a payload too large to travel inline is
// stored first.
func (s *Server) newRun(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint, deliveryID string, body []byte, contentType string, params map[string]string) (*aiasv1alpha1.Run, error) {
	input, err := runs.Payload(ctx, s.Store, ep.Namespace, body, contentType)
	if err != nil {
		return nil, err
	}
	return runs.New(runs.Request{
		Namespace: ep.Namespace, Workflow: aiasv1alpha1.WorkflowReference{Name: ep.Spec.WorkflowRef.Name},
		Trigger: aiasv1alpha1.TriggerWebhook, Source: runs.Source{Name: ep.Name, UID: string(ep.UID)},
		DeliveryID: deliveryID, Params: params, Input: input,
	})
}

type hookAccepted struct {
	Namespace string `json:"namespace"`
	Run       string `json:"run,omitempty"`
	Status    string `json:"status"`
}

func (s *Server) respond(w http.ResponseWriter, r *http.Request, ns, name, deliveryID string, result deliveryResult, status int, run, word string) {
	if err := s.logDelivery(r, deliveryID, result, status, "", run); err != nil {
		s.logQueueFull(w, r, ns, name, deliveryID)
		return
	}
	deliveries.WithLabelValues(ns, name, string(result)).Inc()
	s.Log.V(1).Info("delivery", "namespace", ns, "endpoint", name, "deliveryID", deliveryID, "result", result, "run", run)
	httpjson.Write(w, status, hookAccepted{Namespace: ns, Run: run, Status: word})
}

// finish answers a delivery that created no Run. Only names, the delivery id and the
// outcome are logged: never the body, a header value, a signature or a secret.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, ns, name, deliveryID string, result deliveryResult, status int, reason, msg string) {
	if err := s.logDelivery(r, deliveryID, result, status, reason, ""); err != nil && status < 500 {
		s.logQueueFull(w, r, ns, name, deliveryID)
		return
	}
	deliveries.WithLabelValues(ns, name, string(result)).Inc()
	s.Log.V(1).Info("delivery refused", "namespace", ns, "endpoint", name, "deliveryID", deliveryID, "result", result, "status", status, "reason", reason)
	httpjson.Error(w, status, reason, msg)
}

// logQueueFull answers a verified delivery whose log row the queue had no room for: 503,
// so the sender retries later (a delivery whose Run was created is then answered as a
// duplicate), rather than the listener buffering without bound.
func (s *Server) logQueueFull(w http.ResponseWriter, r *http.Request, ns, name, deliveryID string) {
	deliveries.WithLabelValues(ns, name, string(resultUnavailable)).Inc()
	notesDropped.WithLabelValues("log").Inc()
	s.Log.V(1).Info("delivery refused", "namespace", ns, "endpoint", name, "deliveryID", deliveryID, "result", resultUnavailable, "reason", "LogQueueFull")
	w.Header().Set("Retry-After", "1")
	httpjson.Error(w, http.StatusServiceUnavailable, "Overloaded", "the delivery log's queue is full; retry shortly")
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}
