package console

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// listDeliveries pages through an endpoint's delivery log, newest first: every delivery
// the hook listener answered, whether or not it started a Run, and why. The log is the
// endpoint's by UID: one deleted and created again under the same name lists only its own.
func (a *Server) listDeliveries(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := defaultPageSize
	if s := q.Get("limit"); s != "" {
		var err error
		if limit, err = strconv.Atoi(s); err != nil || limit < 1 || limit > maxPageSize {
			badRequest(w, fmt.Sprintf("limit must be a number from 1 to %d", maxPageSize))
			return
		}
	}
	ep := &aiasv1alpha1.WebhookEndpoint{}
	if err := a.Cache.Get(r.Context(), types.NamespacedName{Namespace: r.PathValue("ns"), Name: r.PathValue("ep")}, ep); err != nil {
		a.apiFailure(w, "webhook endpoint", err)
		return
	}
	page, err := a.Store.ListDeliveryLog(r.Context(), string(ep.UID), limit, q.Get("continue"))
	if errors.Is(err, store.ErrBadContinue) {
		badRequest(w, "continue: not a token this API issued")
		return
	}
	if err != nil {
		a.apiFailure(w, "deliveries", err)
		return
	}
	out := userapi.DeliveryList{Items: make([]userapi.Delivery, 0, len(page.Deliveries)), Continue: page.Continue}
	for _, d := range page.Deliveries {
		item := userapi.Delivery{
			ID: strconv.FormatInt(d.ID, 10), ReceivedAt: d.ReceivedAt, Verified: d.Verified, DeliveryID: d.DeliveryID,
			Outcome: d.Outcome, Reason: d.Reason, Status: d.Status, BodySize: d.BodySize, Run: d.RunName, Count: d.Count,
			Redeliverable: d.Redeliverable,
		}
		if len(d.BodySHA256) > 0 {
			item.Digest = "sha256:" + hex.EncodeToString(d.BodySHA256)
		}
		out.Items = append(out.Items, item)
	}
	httpjson.Write(w, http.StatusOK, out)
}
