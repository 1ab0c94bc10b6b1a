package hooks_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
)

// Every delivery is in the endpoint's log — created (with its Run and the body's
// digest), duplicate, filtered — and the ones that never verified are counted per
// minute, without an id or a digest; the log pages newest first.
func TestHookDeliveryLog(t *testing.T) {
	h := newHookEnv(t)
	ep := h.endpoint("logged", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) {
		ep.Spec.Filter = `body.kind != "noise"`
	}, map[string]string{"secret": testSecret})
	body := []byte(`{"kind":"push"}`)
	if code, _ := h.post("logged", sign(t, std, testSecret, "msg_a", body, time.Now()), body); code != http.StatusAccepted {
		t.Fatalf("first delivery: %d", code)
	}
	if code, _ := h.post("logged", sign(t, std, testSecret, "msg_a", body, time.Now()), body); code != http.StatusOK {
		t.Fatalf("redelivery: %d", code)
	}
	noise := []byte(`{"kind":"noise"}`)
	if code, _ := h.post("logged", sign(t, std, testSecret, "msg_b", noise, time.Now()), noise); code != http.StatusOK {
		t.Fatalf("filtered: %d", code)
	}
	for range 3 {
		if code, _ := h.post("logged", sign(t, std, "whsec_"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "msg_x", body, time.Now()), body); code != http.StatusUnauthorized {
			t.Fatalf("forged: %d", code)
		}
	}

	var page store.DeliveryLogPage
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		page, err = testStore.ListDeliveryLog(h.ctx, string(ep.UID), 50, "")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]int{}
		for _, d := range page.Deliveries {
			got[d.Outcome] += d.Count
		}
		if got["created"] == 1 && got["duplicate"] == 1 && got["filtered"] == 1 && got["unauthorized"] == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("log holds %v: %+v", got, page.Deliveries)
		}
		time.Sleep(20 * time.Millisecond)
	}
	byOutcome := map[string]store.LoggedDelivery{}
	for _, d := range page.Deliveries {
		byOutcome[d.Outcome] = d
	}
	sum := sha256.Sum256(body)
	created := byOutcome["created"]
	if !created.Verified || created.DeliveryID != "msg_a" || created.Status != 202 || created.RunName == "" ||
		hex.EncodeToString(created.BodySHA256) != hex.EncodeToString(sum[:]) || created.BodySize != int64(len(body)) || !created.Redeliverable {
		t.Errorf("created row %+v", created)
	}
	if d := byOutcome["duplicate"]; d.Status != 200 || d.RunName != created.RunName {
		t.Errorf("duplicate row %+v", d)
	}
	if d := byOutcome["filtered"]; d.Status != 200 || d.DeliveryID != "msg_b" || d.RunName != "" {
		t.Errorf("filtered row %+v", d)
	}
	// Counted per minute: the three may straddle a minute boundary, so their rows are
	// checked one by one (the loop above saw them add up to 3).
	for _, d := range page.Deliveries {
		if d.Outcome == "unauthorized" && (d.Verified || d.Count < 1 || d.Status != 401 || d.DeliveryID != "" || len(d.BodySHA256) != 0 ||
			d.Reason == "" || !d.ReceivedAt.Equal(d.ReceivedAt.Truncate(time.Minute))) {
			t.Errorf("unverified row %+v", d)
		}
	}
	first, err := testStore.ListDeliveryLog(h.ctx, string(ep.UID), 2, "")
	if err != nil || len(first.Deliveries) != 2 || first.Continue == "" {
		t.Fatalf("first page %+v, %v", first, err)
	}
	rest, err := testStore.ListDeliveryLog(h.ctx, string(ep.UID), 50, first.Continue)
	if err != nil || len(rest.Deliveries) != len(page.Deliveries)-2 || rest.Continue != "" {
		t.Errorf("second page %d rows, %v (of %d)", len(rest.Deliveries), err, len(page.Deliveries))
	}
}
