package console_test

import (
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"
	"strings"
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
	page, err := testStore.ListDeliveryLog(e.ctx, string(ep.UID), 10, "")
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

// Issue 21, item 3: a redelivery passes the same Gate as a delivery: the endpoint's
// suspension (423) and its rate limit (429 RateLimited with Retry-After). On main a
// redelivery went around both.
func TestUserAPIRedeliverPassesTheGate(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("regate")
	e.namespace(ns)
	editor := e.member(ns, "editor", "editor")
	burst := int32(1)
	ep := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hooks"}, Spec: aiasv1alpha1.WebhookEndpointSpec{
		WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "ci"}, RateLimit: &aiasv1alpha1.RateLimit{RequestsPerMinute: 1, Burst: &burst}}}
	if err := e.c.Create(e.ctx, ep); err != nil {
		t.Fatal(err)
	}
	body := `{"kind":"push"}`
	sum := sha256.Sum256([]byte(body))
	until := time.Now().Add(time.Hour)
	if err := testStore.LogDelivery(e.ctx, store.LoggedDelivery{Namespace: ns, Endpoint: "hooks", EndpointUID: string(ep.UID),
		ReceivedAt: time.Now(), Verified: true, DeliveryID: "d-1", Outcome: "created", Status: 202, BodySize: int64(len(body)),
		BodySHA256: sum[:], Body: []byte(body), ContentType: "application/json", BodyExpiresAt: &until}); err != nil {
		t.Fatal(err)
	}
	page, err := testStore.ListDeliveryLog(e.ctx, string(ep.UID), 10, "")
	if err != nil || len(page.Deliveries) != 1 {
		t.Fatalf("log %+v, %v", page, err)
	}
	path := "/api/v1/namespaces/" + ns + "/webhookendpoints/hooks/deliveries/" + strconv.FormatInt(page.Deliveries[0].ID, 10) + "/redeliver"
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp = e.do("POST", path, editor, nil, "Idempotency-Key", "first")
		if resp.StatusCode != http.StatusNotFound || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != http.StatusCreated {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("first redelivery: %d %s", resp.StatusCode, raw)
	}
	resp = e.do("POST", path, editor, nil, "Idempotency-Key", "second")
	if raw, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(raw), "RateLimited") {
		t.Fatalf("second redelivery within the minute: %d %s, want 429 RateLimited with Retry-After", resp.StatusCode, raw)
	}
	ep.Spec.Suspend = true
	if err := e.c.Update(e.ctx, ep); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp = e.do("POST", path, editor, nil, "Idempotency-Key", "third")
		if resp.StatusCode == http.StatusLocked || time.Now().After(deadline) {
			break
		}
	}
	if resp.StatusCode != http.StatusLocked {
		t.Fatalf("redelivery to a suspended endpoint: %d, want 423", resp.StatusCode)
	}
}

// An endpoint deleted and created again under the same name sees none of its
// predecessor's deliveries: the log lists nothing, and redelivering one of the old ids is
// 404. Reproduces issue 21 item 2: on main the log was keyed by namespace and endpoint
// name, so the new endpoint listed the old one's deliveries and could redeliver them.
// (Here no controller runs, so the old rows stay, as rows written by a delivery in flight
// during the delete would.)
func TestUserAPIDeliveriesOfRecreatedEndpoint(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("recreated")
	e.namespace(ns)
	editor := e.member(ns, "editor", "editor")
	newEndpoint := func() *aiasv1alpha1.WebhookEndpoint {
		ep := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "hooks"},
			Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "ci"}}}
		if err := e.c.Create(e.ctx, ep); err != nil {
			t.Fatal(err)
		}
		return ep
	}
	old := newEndpoint()
	body := `{"kind":"push"}`
	sum := sha256.Sum256([]byte(body))
	until := time.Now().Add(time.Hour)
	if err := testStore.LogDelivery(e.ctx, store.LoggedDelivery{Namespace: ns, Endpoint: "hooks", EndpointUID: string(old.UID),
		ReceivedAt: time.Now(), Verified: true, DeliveryID: "old-1", Outcome: "created", Status: 202, BodySize: int64(len(body)),
		BodySHA256: sum[:], Body: []byte(body), ContentType: "application/json", BodyExpiresAt: &until}); err != nil {
		t.Fatal(err)
	}
	list := "/api/v1/namespaces/" + ns + "/webhookendpoints/hooks/deliveries"
	// listUntil polls the list until it has n items (the listener's cache follows the
	// endpoint a moment later) and returns the last answer.
	listUntil := func(n int) userapi.DeliveryList {
		t.Helper()
		var got userapi.DeliveryList
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp := e.do("GET", list, editor, nil)
			if resp.StatusCode == http.StatusOK {
				got = decode[userapi.DeliveryList](t, resp)
				if len(got.Items) == n {
					return got
				}
			} else {
				resp.Body.Close()
			}
			if time.Now().After(deadline) {
				t.Fatalf("deliveries: %d, last %+v; want %d items", resp.StatusCode, got.Items, n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	id := listUntil(1).Items[0].ID

	if err := e.c.Delete(e.ctx, old); err != nil {
		t.Fatal(err)
	}
	recreated := newEndpoint()
	if recreated.UID == old.UID {
		t.Fatal("same UID")
	}
	listUntil(0)
	resp := e.do("POST", list+"/"+id+"/redeliver", editor, nil)
	if resp.StatusCode != http.StatusNotFound {
		raw, _ := io.ReadAll(resp.Body)
		t.Errorf("redelivering the old endpoint's delivery: %d %s, want 404", resp.StatusCode, raw)
	}
	resp.Body.Close()
}
