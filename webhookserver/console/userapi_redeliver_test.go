package console_test

import (
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
)

// A stored delivery is redelivered through the endpoint's current filter and params: an
// editor starts a Run with trigger Redelivery (an Idempotency-Key finds it again), a
// delivery the filter now refuses answers "filtered", one whose body is past retention
// is 404, and a viewer may not redeliver (403). The log lists which are redeliverable.
func TestUserAPIRedeliver(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("redeliver")
	e.namespace(ns)
	editor := e.member(ns, "editor", "editor")
	viewer := e.member(ns, "viewer", "viewer")
	ep := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hooks"}, Spec: aiasv1alpha1.WebhookEndpointSpec{
		WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "ci"}, Filter: `body.kind != "noise"`, Params: map[string]string{"kind": "body.kind"}}}
	if err := e.c.Create(e.ctx, ep); err != nil {
		t.Fatal(err)
	}
	logged := func(id, body string, keep time.Duration) {
		t.Helper()
		sum := sha256.Sum256([]byte(body))
		until := time.Now().Add(keep)
		if err := testStore.LogDelivery(e.ctx, store.LoggedDelivery{Namespace: ns, Endpoint: "hooks", EndpointUID: string(ep.UID),
			ReceivedAt: time.Now(), Verified: true, DeliveryID: id, Outcome: "created", Status: 202, BodySize: int64(len(body)),
			BodySHA256: sum[:], Body: []byte(body), ContentType: "application/json", Headers: map[string]string{"x-event": "push"}, BodyExpiresAt: &until}); err != nil {
			t.Fatal(err)
		}
	}
	logged("d-push", `{"kind":"push"}`, time.Hour)
	logged("d-noise", `{"kind":"noise"}`, time.Hour)
	logged("d-old", `{"kind":"push"}`, -time.Minute)
	page, err := testStore.ListDeliveryLog(e.ctx, ns, "hooks", 10, "")
	if err != nil || len(page.Deliveries) != 3 {
		t.Fatalf("log %+v, %v", page, err)
	}
	ids := map[string]string{}
	for _, d := range page.Deliveries {
		ids[d.DeliveryID] = strconv.FormatInt(d.ID, 10)
		if d.Redeliverable != (d.DeliveryID != "d-old") {
			t.Errorf("%s redeliverable = %v", d.DeliveryID, d.Redeliverable)
		}
	}
	path := func(id string) string {
		return "/api/v1/namespaces/" + ns + "/webhookendpoints/hooks/deliveries/" + ids[id] + "/redeliver"
	}

	// The endpoint reaches the listener's cache a moment after it is created.
	var resp *http.Response
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp = e.do("POST", path("d-push"), editor, nil, "Idempotency-Key", "r1")
		if resp.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusCreated {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("redeliver: %d %s", resp.StatusCode, raw)
	}
	ref := decode[userapi.RunRef](t, resp)
	if again := decode[userapi.RunRef](t, e.do("POST", path("d-push"), editor, nil, "Idempotency-Key", "r1")); again.Run != ref.Run {
		t.Errorf("the same key started %s besides %s", again.Run, ref.Run)
	}
	run := &aiasv1alpha1.Run{}
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: ns, Name: ref.Run}, run); err != nil {
		t.Fatal(err)
	}
	if run.Spec.Trigger.Type != aiasv1alpha1.TriggerRedelivery || run.Spec.Trigger.DeliveryID != "d-push" || run.Spec.Params["kind"] != "push" ||
		run.Spec.Input == nil || *run.Spec.Input != `{"kind":"push"}` {
		t.Errorf("run spec %+v", run.Spec)
	}
	if got := decode[userapi.RunRef](t, e.do("POST", path("d-noise"), editor, nil)); got.Status != "filtered" || got.Run != "" {
		t.Errorf("noise: %+v", got)
	}
	if resp := e.do("POST", path("d-old"), editor, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("expired body: %d", resp.StatusCode)
	}
	if resp := e.do("POST", path("d-push"), viewer, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("viewer: %d", resp.StatusCode)
	}
	list := decode[userapi.DeliveryList](t, e.do("GET", "/api/v1/namespaces/"+ns+"/webhookendpoints/hooks/deliveries", viewer, nil))
	if len(list.Items) != 3 || list.Items[0].Digest == "" {
		t.Errorf("deliveries %+v", list.Items)
	}
}
