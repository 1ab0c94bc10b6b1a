package console

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
	"github.com/aias-dev/aias/internal/runs"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// redeliver sends a stored, verified delivery through its endpoint again: the same Gate
// as a delivery's (suspension 423, rate limits 429 RateLimited, run quota 429
// QuotaExceeded), then the current filter and params decide, as for a new delivery, and a Run with trigger Redelivery
// starts (200 "filtered" when the filter now says no). The delivery was verified when it
// arrived; the caller's right to do this is the SubjectAccessReview on
// webhookendpoints/redeliver. Each request starts a new Run unless it repeats an
// Idempotency-Key (per caller), which finds the Run the first one started.
func (a *Server) redeliver(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("ns"), r.PathValue("ep")
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		badRequest(w, "the delivery id is a number from the delivery log")
		return
	}
	// The endpoint as it is now, by UID: a delivery to an earlier endpoint of the same
	// name (deleted and created again) is not this one's to redeliver.
	ep := &aiasv1alpha1.WebhookEndpoint{}
	if err := a.Cache.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: name}, ep); err != nil {
		a.apiFailure(w, "webhook endpoint", err)
		return
	}
	d, err := a.Store.StoredDelivery(r.Context(), string(ep.UID), id, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "no stored delivery "+strconv.FormatInt(id, 10)+
			" for this endpoint (unverified deliveries are never stored, and bodies are kept for the plan's deliveryRetention)")
		return
	}
	if err != nil {
		a.apiFailure(w, "delivery", err)
		return
	}
	// A redelivery is a delivery: the endpoint's suspension and rate limit and the
	// tenant's rate and run quota hold it exactly as they hold one from the sender.
	if _, refusal := a.gate().Admit(r.Context(), ep, int64(len(d.Body))); refusal != nil {
		refusal.Write(w)
		return
	}
	prg, err := deliveryexpr.Compile(&ep.Spec)
	if err != nil {
		httpjson.Error(w, http.StatusUnprocessableEntity, "InvalidExpression", err.Error())
		return
	}
	res, err := prg.Evaluate(r.Context(), deliveryexpr.Delivery{Body: d.Body, Header: deliveryexpr.HeaderOf(d.Headers), DeliveryID: d.DeliveryID})
	if err != nil {
		httpjson.Error(w, http.StatusUnprocessableEntity, "ExpressionFailed", "evaluating the endpoint's "+err.Error())
		return
	}
	if !res.Passed {
		httpjson.Write(w, http.StatusOK, userapi.RunRef{Namespace: ns, Status: "filtered"})
		return
	}
	input, err := runs.Payload(r.Context(), a.Store, ns, d.Body, d.ContentType)
	if err != nil {
		a.apiFailure(w, "delivery payload", err)
		return
	}
	a.createRun(w, r, runs.Request{
		Namespace: ns, Workflow: aiasv1alpha1.WorkflowReference{Name: ep.Spec.WorkflowRef.Name},
		Trigger: aiasv1alpha1.TriggerRedelivery, Source: runs.Source{Name: ep.Name, UID: string(ep.UID)},
		DeliveryID: d.DeliveryID, StoredDelivery: id,
		Caller: callerFrom(r.Context()).GetName(), IdempotencyKey: r.Header.Get("Idempotency-Key"),
		Params: res.Params, Input: input,
	})
}
