package console

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/deliveryexpr"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/hooks"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// redeliver sends a stored, verified delivery through its endpoint again: the current
// filter and params decide, as for a new delivery, and a Run with trigger Redelivery
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
	d, err := a.Store.StoredDelivery(r.Context(), ns, name, id, time.Now())
	if errors.Is(err, store.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "no stored delivery "+strconv.FormatInt(id, 10)+
			" for this endpoint (unverified deliveries are never stored, and bodies are kept for the plan's deliveryRetention)")
		return
	}
	if err != nil {
		a.apiFailure(w, "delivery", err)
		return
	}
	ep := &aiasv1alpha1.WebhookEndpoint{}
	if err := a.Cache.Get(r.Context(), types.NamespacedName{Namespace: ns, Name: name}, ep); err != nil {
		a.apiFailure(w, "webhook endpoint", err)
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
	key := r.Header.Get("Idempotency-Key")
	if key == "" {
		key = strconv.FormatInt(time.Now().UnixNano(), 10)
	}
	sum := sha256.Sum256([]byte(string(ep.UID) + "\x00" + strconv.FormatInt(id, 10) + "\x00" + callerFrom(r.Context()).GetName() + "\x00" + key))
	runName := strings.TrimRight(truncate(name, 40), "-.") + "-redelivery-" + hex.EncodeToString(sum[:])[:10]
	run, err := hooks.NewRun(r.Context(), a.Store, ep, runName, aiasv1alpha1.TriggerRedelivery, d.DeliveryID, d.Body, d.ContentType, res.Params)
	if err != nil {
		a.apiFailure(w, "delivery payload", err)
		return
	}
	a.createRun(w, r, run)
}
