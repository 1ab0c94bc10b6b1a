// Package hooks serves the public hook listener: POST /hooks/{namespace}/{endpoint}
// turns each verified delivery into exactly one Run.
package hooks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
	"github.com/aias-dev/aias/internal/signature"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// DefaultMaxBodyBytes applies when an endpoint sets no maxBodyBytes (the schema default).
const DefaultMaxBodyBytes = 1 << 20

// Server is the public hook listener: POST /hooks/{namespace}/{endpoint}. Each delivery is
// looked up, size-capped, verified, rate-limited and turned into exactly one Run, named
// after the endpoint's UID and the delivery id so that a redelivery — even concurrent
// ones — finds the Run the first one created.
type Server struct {
	Endpoints EndpointSource
	// Runs creates Runs; it needs no other permission.
	Runs  RunCreator
	Store *store.Store
	Log   logr.Logger
	Now   func() time.Time

	limits   rateLimits
	programs programs
}

// Handler routes the public listener. Anything but POST /hooks/... is 404 or 405.
func (s *Server) Handler() http.Handler {
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

// deliver handles one delivery. The order matters: nothing is read past the size cap,
// nothing is trusted before the signature is verified, and only verified deliveries
// spend the endpoint's rate budget (so a forger cannot starve the real sender).
func (s *Server) deliver(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("endpoint")
	entry := &logEntry{received: s.now()}
	r = withLogEntry(r, entry)
	ep, err := s.Endpoints.Endpoint(r.Context(), ns, name)
	if err != nil {
		// The same answer whether the namespace exists or not: no probing for tenants.
		s.finish(w, r, "", "", "", resultNotFound, http.StatusNotFound, "NotFound", "no such webhook endpoint")
		return
	}
	entry.ep = ep
	if ep.Spec.Suspend {
		s.finish(w, r, ns, name, "", resultSuspended, http.StatusLocked, "Suspended", "the endpoint is suspended")
		return
	}
	// Checked up front (nothing is read yet): a type the store cannot hold would
	// otherwise fail only when a large payload is stored, as a 503 retried forever.
	contentType := r.Header.Get("Content-Type")
	if bad := store.CheckContentType(contentType); contentType != "" && bad != nil {
		s.finish(w, r, ns, name, "", resultMalformed, http.StatusBadRequest, bad.Reason, bad.Message)
		return
	}
	limit := int64(DefaultMaxBodyBytes)
	if ep.Spec.MaxBodyBytes != nil {
		limit = *ep.Spec.MaxBodyBytes
	}
	entry.size = max(r.ContentLength, 0)
	if r.ContentLength > limit {
		s.finish(w, r, ns, name, "", resultTooLarge, http.StatusRequestEntityTooLarge, "TooLarge", fmt.Sprintf("the body exceeds %d bytes", limit))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			s.finish(w, r, ns, name, "", resultTooLarge, http.StatusRequestEntityTooLarge, "TooLarge", fmt.Sprintf("the body exceeds %d bytes", limit))
			return
		}
		s.finish(w, r, ns, name, "", resultMalformed, http.StatusBadRequest, "BadBody", "the body could not be read")
		return
	}

	entry.setBody(body)
	deliveryID, err := s.verify(r, ep, body)
	if err != nil {
		var sigErr *signature.Error
		switch {
		case errors.As(err, &sigErr) && sigErr.Status == http.StatusBadRequest:
			s.finish(w, r, ns, name, "", resultMalformed, http.StatusBadRequest, sigErr.Reason, sigErr.Message)
		case errors.As(err, &sigErr):
			s.finish(w, r, ns, name, "", resultInvalid, http.StatusUnauthorized, sigErr.Reason, sigErr.Message)
		case errors.Is(err, signature.ErrNoKeys), errors.Is(err, signature.ErrInvalidConfig):
			// The endpoint has no usable signing key (its Secret is missing or empty):
			// nothing can verify, which to the caller is an invalid signature.
			s.finish(w, r, ns, name, "", resultInvalid, http.StatusUnauthorized, "NoSigningKey", "the endpoint has no usable signing key (see its Ready condition)")
		default:
			w.Header().Set("Retry-After", "5")
			s.finish(w, r, ns, name, "", resultUnavailable, http.StatusServiceUnavailable, "Unavailable", "signing keys could not be read")
		}
		return
	}

	s.verifiedDelivery(r, entry)
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
	deliveryID, prev, err := s.record(r.Context(), ep, deliveryID, body)
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

	if wait, ok := s.limits.allow(ep, s.now()); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		s.finish(w, r, ns, name, deliveryID, resultRateLimited, http.StatusTooManyRequests, "RateLimited", "the endpoint's delivery rate is exhausted")
		return
	}

	if wait, msg := s.quotaExhausted(r.Context(), ep); msg != "" {
		w.Header().Set("Retry-After", strconv.Itoa(int(wait.Seconds()+0.999)))
		s.finish(w, r, ns, name, deliveryID, resultQuotaExceeded, http.StatusTooManyRequests, "QuotaExceeded", msg)
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

// record puts the verified delivery in the ledger. It returns the delivery id the Run is
// named after — the delivery's own, or for a body already delivered under another id
// (ReplayableID schemes) that delivery's — and the earlier record, if any.
func (s *Server) record(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint, deliveryID string, body []byte) (string, *store.RecordedDelivery, error) {
	cfg := signature.ConfigFor(ep.Spec.Verification)
	prev, err := s.Store.RecordDelivery(ctx, store.Delivery{
		EndpointUID: string(ep.UID), DeliveryID: deliveryID,
		Namespace: ep.Namespace, Endpoint: ep.Name,
		BodySHA256: sha256.Sum256(body), BodySize: int64(len(body)),
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
	uid, ns, name := string(ep.UID), ep.Namespace, ep.Name
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), markTimeout)
		defer cancel()
		if err := s.Store.MarkDeliveryCreated(ctx, uid, deliveryID); err != nil {
			s.Log.Error(err, "marking the delivery created", "namespace", ns, "endpoint", name, "deliveryID", deliveryID)
		}
	}()
}

// markTimeout bounds a background mark (markCreated).
const markTimeout = 30 * time.Second

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

// verify checks the delivery's signature with the endpoint's keys and times it.
func (s *Server) verify(r *http.Request, ep *aiasv1alpha1.WebhookEndpoint, body []byte) (string, error) {
	secretName := ep.SigningSecretName()
	if secretName == "" {
		return "", signature.ErrNoKeys
	}
	keys, err := s.Endpoints.Keys(r.Context(), ep.Namespace, secretName)
	if err != nil {
		return "", err
	}
	if len(keys) == 0 {
		return "", signature.ErrNoKeys
	}
	cfg := signature.ConfigFor(ep.Spec.Verification)
	start := time.Now()
	id, err := signature.Verify(cfg, keys, r.Header, body, s.now())
	verificationSeconds.WithLabelValues(string(cfg.Scheme)).Observe(time.Since(start).Seconds())
	return id, err
}

// RunName is the Run a delivery maps to: the endpoint's name for people, and a hash of
// the endpoint's UID and the delivery id for uniqueness. A recreated endpoint (new UID)
// starts a fresh series; a redelivery maps to the same name.
func RunName(ep *aiasv1alpha1.WebhookEndpoint, deliveryID string) string {
	sum := sha256.Sum256([]byte(string(ep.UID) + "/" + deliveryID))
	suffix := hex.EncodeToString(sum[:])[:16]
	prefix := ep.Name
	if max := 63 - len(suffix) - 1; len(prefix) > max {
		prefix = strings.TrimRight(prefix[:max], "-.")
	}
	return prefix + "-" + suffix
}

// newRun builds the Run of a verified delivery (NewRun).
func (s *Server) newRun(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint, deliveryID string, body []byte, contentType string, params map[string]string) (*aiasv1alpha1.Run, error) {
	return NewRun(ctx, s.Store, ep, RunName(ep, deliveryID), aiasv1alpha1.TriggerWebhook, deliveryID, body, contentType, params)
}

// NewRun builds the Run named name for a delivery to ep (trigger Webhook, or Redelivery
// from the delivery log). The payload goes inline when it is small text; otherwise it is
// stored first (by digest) and referenced, so etcd never holds more than the inline cap.
func NewRun(ctx context.Context, st *store.Store, ep *aiasv1alpha1.WebhookEndpoint, name string, trigger aiasv1alpha1.TriggerType,
	deliveryID string, body []byte, contentType string, params map[string]string) (*aiasv1alpha1.Run, error) {
	run := &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: ep.Namespace,
			Labels: map[string]string{aiasv1alpha1.LabelWebhookEndpoint: ep.Name},
			// Set at create, so the Run controller need not add it (one write less).
			Finalizers: []string{aiasv1alpha1.RunFinalizer},
		},
		Spec: aiasv1alpha1.RunSpec{
			WorkflowRef: aiasv1alpha1.WorkflowReference{Name: ep.Spec.WorkflowRef.Name},
			Trigger:     &aiasv1alpha1.RunTrigger{Type: trigger, Endpoint: ep.Name, DeliveryID: deliveryID},
			Params:      params,
		},
	}
	if len(body) <= aiasv1alpha1.MaxInlineInputLength && utf8.Valid(body) {
		input := string(body)
		run.Spec.Input = &input
		return run, nil
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	digest, err := st.PutInput(ctx, body, contentType)
	if err != nil {
		return nil, fmt.Errorf("storing the payload: %w", err)
	}
	run.Spec.InputRef = &aiasv1alpha1.InputReference{Digest: digest, Size: int64(len(body)), ContentType: contentType}
	return run, nil
}

type hookAccepted struct {
	Namespace string `json:"namespace"`
	Run       string `json:"run,omitempty"`
	Status    string `json:"status"`
}

func (s *Server) respond(w http.ResponseWriter, r *http.Request, ns, name, deliveryID string, result deliveryResult, status int, run, word string) {
	deliveries.WithLabelValues(ns, name, string(result)).Inc()
	s.logDelivery(r, deliveryID, result, status, "", run)
	s.Log.V(1).Info("delivery", "namespace", ns, "endpoint", name, "deliveryID", deliveryID, "result", result, "run", run)
	httpjson.Write(w, status, hookAccepted{Namespace: ns, Run: run, Status: word})
}

// finish answers a delivery that created no Run. Only names, the delivery id and the
// outcome are logged: never the body, a header value, a signature or a secret.
func (s *Server) finish(w http.ResponseWriter, r *http.Request, ns, name, deliveryID string, result deliveryResult, status int, reason, msg string) {
	deliveries.WithLabelValues(ns, name, string(result)).Inc()
	s.logDelivery(r, deliveryID, result, status, reason, "")
	s.Log.V(1).Info("delivery refused", "namespace", ns, "endpoint", name, "deliveryID", deliveryID, "result", result, "status", status, "reason", reason)
	httpjson.Error(w, status, reason, msg)
}

func (s *Server) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// quotaExhausted answers a delivery before it becomes a Run that would only be refused:
// when the tenant has started its plan's runs for the period, the sender is told to come
// back when the next period starts. The Run controller's claim stays the authority (a
// Run created just before the limit was reached is still refused there); this check
// saves the sender a Run that cannot start and tells it when to retry.
func (s *Server) quotaExhausted(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint) (time.Duration, string) {
	e, err := s.Endpoints.Entitlement(ctx, ep.Namespace)
	if err != nil || e == nil || e.Limits().RunsPerMonth == nil {
		return 0, "" // no plan to hold the delivery to (a failed lookup is not the sender's fault)
	}
	limit := *e.Limits().RunsPerMonth
	period := e.PeriodStart(s.now())
	used, err := s.Store.TenantRuns(ctx, e.Tenant.Name, period)
	if err != nil || used < limit {
		return 0, ""
	}
	next := period.AddDate(0, 1, 0)
	return next.Sub(s.now()), fmt.Sprintf("%s has started its %d runs for the period; the next period starts %s",
		e.Describe(), limit, next.Format(time.RFC3339))
}
