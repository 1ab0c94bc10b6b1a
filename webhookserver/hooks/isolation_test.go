package hooks_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/webhookserver"
	"github.com/aias-dev/aias/webhookserver/hooks"
)

// Issue 21, item 6: until its signature is checked, a delivery to an endpoint that exists
// is answered exactly as one to an endpoint that does not — whatever its headers, its
// size, or the endpoint's suspension or keys — so that probing tells nothing. On main the
// answers were 404, 400, 401, 413 and 423.
func TestUnverifiedDeliveriesAnswerAlike(t *testing.T) {
	h := newHookEnv(t)
	h.endpoint("small", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) { ep.Spec.MaxBodyBytes = ptr.To[int64](1024) },
		map[string]string{"secret": testSecret})
	h.endpoint("paused", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) { ep.Spec.Suspend = true }, map[string]string{"secret": testSecret})
	h.endpoint("keyless", aiasv1alpha1.Verification{}, nil, map[string]string{"not-a-key": "x"})
	otherKey := "whsec_" + strings.Repeat("Z", 32)
	body := []byte(`{"a":1}`)
	big := bytes.Repeat([]byte("x"), 4096)
	cases := []struct {
		name, ns, endpoint string
		headers            http.Header
		body               []byte
	}{
		{"unknown endpoint, signed", h.ns, "nope", sign(t, std, testSecret, "m1", body, time.Now()), body},
		{"unknown namespace, unsigned", "no-such-ns", "small", nil, body},
		{"no headers", h.ns, "small", nil, body},
		{"malformed signature header", h.ns, "small", http.Header{"Webhook-Id": {"m2"}, "Webhook-Timestamp": {"x"}, "Webhook-Signature": {"v1,x"}}, body},
		{"wrong key", h.ns, "small", sign(t, std, otherKey, "m3", body, time.Now()), body},
		{"over the cap, wrong key", h.ns, "small", sign(t, std, otherKey, "m4", big, time.Now()), big},
		{"over the cap, unsigned", h.ns, "small", nil, big},
		{"suspended, wrong key", h.ns, "paused", sign(t, std, otherKey, "m5", body, time.Now()), body},
		{"suspended, unsigned", h.ns, "paused", nil, body},
		{"no usable key", h.ns, "keyless", sign(t, std, testSecret, "m6", body, time.Now()), body},
		{"stale signature", h.ns, "small", sign(t, std, testSecret, "m7", body, time.Now().Add(-time.Hour)), body},
	}
	var first string
	for _, c := range cases {
		code, out := h.postTo(c.ns, c.endpoint, c.headers, c.body)
		got := fmt.Sprintf("%d %s", code, out["_raw"])
		if code != http.StatusUnauthorized || out["reason"] != hooks.ReasonUnverified {
			t.Errorf("%s: %s, want 401 %s", c.name, got, hooks.ReasonUnverified)
		}
		if first == "" {
			first = got
		} else if got != first {
			t.Errorf("%s is told something else than %s: %s vs %s", c.name, cases[0].name, got, first)
		}
	}
	// Holders of the key are told the truth.
	if code, out := h.post("small", sign(t, std, testSecret, "m8", big, time.Now()), big); code != http.StatusRequestEntityTooLarge || out["reason"] != "TooLarge" {
		t.Errorf("over the cap with the key: %d %v", code, out)
	}
	if code, out := h.post("paused", sign(t, std, testSecret, "m9", body, time.Now()), body); code != http.StatusLocked || out["reason"] != "Suspended" {
		t.Errorf("suspended with the key: %d %v", code, out)
	}
	if len(h.runs()) != 0 {
		t.Error("a refused delivery created a Run")
	}
	// The owner's delivery log says why each was refused.
	h.awaitLogged("small", "unauthorized", "InvalidSignature")
	h.awaitLogged("small", "malformed", "MissingHeader")
	h.awaitLogged("small", "unauthorized", "TimestampOutOfTolerance")
}

// Issue 21, item 1: every verified delivery pays the endpoint's rate limit and the tenant's
// deliveriesPerMinute before anything else happens to it: filtered and duplicate
// deliveries too. On main a filtered delivery and a duplicate returned before the limiter.
func TestEveryVerifiedDeliveryPaysTheGate(t *testing.T) {
	h := newHookEnv(t)
	h.endpoint("limited", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) {
		ep.Spec.RateLimit = &aiasv1alpha1.RateLimit{RequestsPerMinute: 1, Burst: ptr.To[int32](3)}
		ep.Spec.Filter = `body.kind != "noise"`
	}, map[string]string{"secret": testSecret})
	noise, wanted := []byte(`{"kind":"noise"}`), []byte(`{"kind":"push"}`)
	if code, out := h.post("limited", sign(t, std, testSecret, "n1", noise, time.Now()), noise); code != http.StatusOK || out["status"] != "filtered" {
		t.Fatalf("filtered: %d %v", code, out)
	}
	headers := sign(t, std, testSecret, "w1", wanted, time.Now())
	if code, _ := h.post("limited", headers, wanted); code != http.StatusAccepted {
		t.Fatalf("wanted: %d", code)
	}
	if code, out := h.post("limited", headers, wanted); code != http.StatusOK || out["status"] != "duplicate" {
		t.Fatalf("duplicate: %d %v", code, out)
	}
	// Three tokens spent: by a filtered delivery, a created one and a duplicate.
	if code, out := h.post("limited", sign(t, std, testSecret, "n2", noise, time.Now()), noise); code != http.StatusTooManyRequests || out["reason"] != "RateLimited" || out["_retryAfter"] == "" {
		t.Fatalf("fourth delivery within the minute: %d %v, want 429 RateLimited with Retry-After", code, out)
	}

	// The tenant's deliveriesPerMinute holds across all its endpoints.
	h.onPlan("slow", aiasv1alpha1.PlanLimits{DeliveriesPerMinute: ptr.To[int32](2)})
	h.endpoint("a", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	h.endpoint("b", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	refused := 0
	for i := range 6 {
		name := []string{"a", "b"}[i%2]
		code, out := h.post(name, sign(t, std, testSecret, fmt.Sprintf("t%d", i), noise, time.Now()), noise)
		if code == http.StatusTooManyRequests && out["reason"] == "RateLimited" && strings.Contains(fmt.Sprint(out["error"]), "deliveries per minute") {
			refused++
		}
	}
	// The bucket holds 1 (a tenth of 2, at least 1): of six deliveries at most two pass
	// (allowing for the Tenant reaching the informer a moment late).
	if refused < 4 {
		t.Errorf("%d of 6 deliveries to two endpoints of a tenant allowed 2 a minute were refused, want at least 4", refused)
	}
}

// stall opens a connection from localIP that sends a delivery's head announcing length
// bytes and then only the first bytes of the body, and holds it; the caller closes it.
func (h *hookEnv) stall(t *testing.T, localIP, ns, endpoint string, length int, first []byte) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}
	c, err := d.Dial("tcp", strings.TrimPrefix(h.url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "POST /hooks/%s/%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", ns, endpoint, length)
	for k, v := range sign(t, std, testSecret, "slow-"+strconv.Itoa(length), []byte("x"), time.Now()) {
		fmt.Fprintf(c, "%s: %s\r\n", k, v[0])
	}
	fmt.Fprint(c, "\r\n")
	_, _ = c.Write(first)
	return c
}

// postFrom is postTo from another local address.
func (h *hookEnv) postFrom(localIP, ns, endpoint string, headers http.Header, body []byte) (int, string) {
	h.t.Helper()
	cl := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}}).DialContext}}
	req, _ := http.NewRequest(http.MethodPost, h.url+"/hooks/"+ns+"/"+endpoint, bytes.NewReader(body))
	for k, v := range headers {
		req.Header[k] = v
	}
	resp, err := cl.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(raw)
}

// Issue 21, item 1: the bytes of bodies in flight are capped across all connections, so
// that a few huge bodies (an endpoint with maxBodyBytes 32Mi) or many slow ones cannot
// push the listener past its memory: past the cap a delivery is answered 503 with
// Retry-After at once. On main every body was read whole into memory, however many.
func TestBodyBytesInFlightAreCapped(t *testing.T) {
	h := newHookEnvWith(t, func(o *webhookserver.Options) { o.Hooks.BodyBytesInFlight = 8 << 20 })
	h.endpoint("huge", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) { ep.Spec.MaxBodyBytes = ptr.To[int64](32 << 20) },
		map[string]string{"secret": testSecret})
	// Two senders hold 3 MiB each (declared, a few bytes sent).
	for i := range 2 {
		h.stall(t, "127.0.0.1", h.ns, "huge", 3<<20+i, []byte(`{"x":"`))
	}
	time.Sleep(200 * time.Millisecond) // their heads are in
	big := bytes.Repeat([]byte("y"), 3<<20)
	code, out := h.post("huge", sign(t, std, testSecret, "third", big, time.Now()), big)
	if code != http.StatusServiceUnavailable || out["reason"] != "Overloaded" || out["_retryAfter"] == "" {
		t.Fatalf("a third 3 MiB body past an 8 MiB budget: %d %v, want 503 Overloaded with Retry-After", code, out["_raw"])
	}
	small := []byte(`{"ok":true}`)
	if code, out := h.post("huge", sign(t, std, testSecret, "small", small, time.Now()), small); code != http.StatusAccepted {
		t.Fatalf("a small body within the budget: %d %v", code, out["_raw"])
	}
}

// Issue 21, item 1: one namespace holds at most its share of the body budget, so that a
// tenant's large bodies leave room for the others' deliveries.
func TestBodyBytesPerNamespaceShare(t *testing.T) {
	a := newHookEnvWith(t, func(o *webhookserver.Options) {
		o.Hooks.BodyBytesInFlight, o.Hooks.BodyBytesPerNamespace = 16<<20, 7<<20
	})
	a.endpoint("huge", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) { ep.Spec.MaxBodyBytes = ptr.To[int64](32 << 20) },
		map[string]string{"secret": testSecret})
	for i := range 2 {
		a.stall(t, "127.0.0.1", a.ns, "huge", 3<<20+i, []byte(`{"x":"`))
	}
	time.Sleep(200 * time.Millisecond)
	body := []byte(`{"pad":"` + strings.Repeat("p", 3<<20) + `"}`)
	if code, out := a.post("huge", sign(t, std, testSecret, "a3", body, time.Now()), body); code != http.StatusServiceUnavailable || out["reason"] != "Overloaded" {
		t.Fatalf("a third 3 MiB body past the namespace's 7 MiB share: %d %v", code, out["_raw"])
	}
	b := &hookEnv{t: t, ctx: a.ctx, ns: a.ns + "-b", url: a.url, hooks: a.hooks, logs: a.logs}
	createNamespace(t, b)
	b.endpoint("huge", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) { ep.Spec.MaxBodyBytes = ptr.To[int64](32 << 20) },
		map[string]string{"secret": testSecret})
	if code, out := b.post("huge", sign(t, std, testSecret, "b1", body, time.Now()), body); code != http.StatusAccepted {
		t.Fatalf("another namespace's 3 MiB body while the first holds its share: %d %v", code, out["_raw"])
	}
}

// Issue 21, items 1 and 6: a source whose deliveries do not verify spends a small budget
// and is then answered 429 before anything is read, while another source (and the
// verified sender) goes on. On main a forger could make the listener read and hash
// bodies at will.
func TestUnverifiedBudgetPerSource(t *testing.T) {
	h := newHookEnvWith(t, func(o *webhookserver.Options) { o.Hooks.UnverifiedPerMinute, o.Hooks.UnverifiedBurst = 1, 3 })
	h.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	forged := sign(t, std, "whsec_"+strings.Repeat("F", 32), "forged", []byte(`{}`), time.Now())
	for i := range 3 {
		if code, raw := h.postFrom("127.0.0.2", h.ns, "push", forged, []byte(`{}`)); code != http.StatusUnauthorized {
			t.Fatalf("forged delivery %d: %d %s", i, code, raw)
		}
	}
	if code, raw := h.postFrom("127.0.0.2", h.ns, "push", forged, []byte(`{}`)); code != http.StatusTooManyRequests || !strings.Contains(raw, "RateLimited") {
		t.Fatalf("fourth forged delivery from the same source: %d %s, want 429", code, raw)
	}
	// The same answer for an endpoint that does not exist.
	if code, _ := h.postFrom("127.0.0.2", "nowhere", "nothing", nil, []byte(`{}`)); code != http.StatusTooManyRequests {
		t.Fatalf("the spent source on an unknown endpoint: %d", code)
	}
	body := []byte(`{"real":1}`)
	if code, raw := h.postFrom("127.0.0.3", h.ns, "push", sign(t, std, testSecret, "real", body, time.Now()), body); code != http.StatusAccepted {
		t.Fatalf("the real sender from another source: %d %s", code, raw)
	}
}

// Issue 21, item 1: one namespace's deliveries in flight are capped, so that a tenant's
// slow senders cannot take every slot of the listener from the others.
func TestInFlightPerNamespace(t *testing.T) {
	a := newHookEnvWith(t, func(o *webhookserver.Options) { o.Hooks.InFlightPerNamespace = 2 })
	a.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	for range 2 {
		a.stall(t, "127.0.0.1", a.ns, "push", 100, []byte(`{`))
	}
	time.Sleep(200 * time.Millisecond)
	body := []byte(`{}`)
	if code, out := a.post("push", sign(t, std, testSecret, "third", body, time.Now()), body); code != http.StatusServiceUnavailable || out["reason"] != "Overloaded" {
		t.Fatalf("a third delivery to a namespace at its cap: %d %v", code, out["_raw"])
	}
	// Another namespace on the same listener is served.
	b := &hookEnv{t: t, ctx: a.ctx, ns: a.ns + "-b", url: a.url, hooks: a.hooks, logs: a.logs}
	createNamespace(t, b)
	b.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	if code, out := b.post("push", sign(t, std, testSecret, "other", body, time.Now()), body); code != http.StatusAccepted {
		t.Fatalf("another namespace: %d %v", code, out["_raw"])
	}
}

// Issue 21, item 1: the bodies a tenant's delivery log keeps count against its plan's
// deliveryLogBytes, oldest dropped first. On main every verified body was kept for the
// whole retention, however many.
func TestDeliveryLogBodiesCountAgainstThePlan(t *testing.T) {
	h := newHookEnv(t)
	h.onPlan("log", aiasv1alpha1.PlanLimits{DeliveryLogBytes: ptr.To[int64](5000)})
	ep := h.endpoint("push", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) { ep.Spec.Filter = "false" }, map[string]string{"secret": testSecret})
	body := []byte(`{"pad":"` + strings.Repeat("p", 990) + `"}`)
	for i := range 20 {
		if code, _ := h.post("push", sign(t, std, testSecret, fmt.Sprintf("b%d", i), body, time.Now()), body); code != http.StatusOK {
			t.Fatalf("delivery %d: %d", i, code)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		page, err := testStore.ListDeliveryLog(h.ctx, string(ep.UID), 100, "")
		if err != nil {
			t.Fatal(err)
		}
		kept, _ := testStore.DeliveryLogBytes(h.ctx, h.ns)
		if len(page.Deliveries) == 20 {
			if kept > 5000 || kept == 0 {
				t.Fatalf("the log keeps %d bytes of bodies, want at most the plan's 5000 (and some)", kept)
			}
			if !page.Deliveries[0].Redeliverable || page.Deliveries[19].Redeliverable {
				t.Fatalf("the newest must be kept and the oldest dropped: newest %v, oldest %v", page.Deliveries[0].Redeliverable, page.Deliveries[19].Redeliverable)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the log holds %d rows, want 20", len(page.Deliveries))
		}
	}
}

func createNamespace(t *testing.T, h *hookEnv) {
	t.Helper()
	if err := testEnv.Client.Create(h.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}}); err != nil {
		t.Fatal(err)
	}
}
