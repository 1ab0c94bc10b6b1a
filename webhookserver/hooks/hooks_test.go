package hooks_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/signature"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
	"github.com/aias-dev/aias/webhookserver"
	"github.com/aias-dev/aias/webhookserver/hooks"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// hookEnv is a hook listener on envtest with a namespace of its own and captured logs.
type hookEnv struct {
	t    *testing.T
	ctx  context.Context
	ns   string
	url  string
	logs *servertest.Logs
	// hooks is the listener under test (tests may set its clock before delivering).
	hooks *hooks.Server
}

// The package shares one control plane (the hook listener reads endpoints and Secrets
// and creates Runs) and one database.
var (
	testEnv   *testenv.Env
	testStore *store.Store
)

func TestMain(m *testing.M) { fixtures.Main(m, "aias_hooks_test", &testEnv, &testStore) }

var nsCounter int

func newHookEnv(t *testing.T) *hookEnv { return newHookEnvWith(t, nil) }

// newHookEnvWith is newHookEnv with the listener's options changed by set.
func newHookEnvWith(t *testing.T, set func(*webhookserver.Options)) *hookEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	nsCounter++
	h := &hookEnv{t: t, ctx: ctx, ns: fmt.Sprintf("hooks-%d-%d", nsCounter, time.Now().UnixNano()%100000), logs: &servertest.Logs{}}
	if err := testEnv.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: h.ns}}); err != nil {
		t.Fatal(err)
	}
	log := h.logs.Logger()
	o := webhookserver.Options{RestConfig: testEnv.Config, Log: log}
	if set != nil {
		set(&o)
	}
	public, err := webhookserver.NewPublic(ctx, o, testStore)
	if err != nil {
		t.Fatal(err)
	}
	h.hooks = public.Hooks
	srv := httptest.NewServer(public.Hooks.Handler())
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// endpoint creates a WebhookEndpoint and its signing Secret (the WebhookEndpoint
// controller's job in a cluster; not running here) and waits until the listener sees both.
func (h *hookEnv) endpoint(name string, v aiasv1alpha1.Verification, mutate func(*aiasv1alpha1.WebhookEndpoint), secrets map[string]string) *aiasv1alpha1.WebhookEndpoint {
	h.t.Helper()
	ep := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
		Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}, Verification: v}}
	if mutate != nil {
		mutate(ep)
	}
	if err := testEnv.Client.Create(h.ctx, ep); err != nil {
		h.t.Fatal(err)
	}
	secretName := name + "-signing"
	if ep.Spec.Verification.SecretRef != nil {
		secretName = ep.Spec.Verification.SecretRef.Name
	} else {
		// What the WebhookEndpoint controller reports once it owns the generated Secret.
		ep.Status.SecretRef = &aiasv1alpha1.SecretReference{Name: secretName}
		if err := testEnv.Client.Status().Update(h.ctx, ep); err != nil {
			h.t.Fatal(err)
		}
	}
	data := map[string][]byte{}
	for k, v := range secrets {
		data[k] = []byte(v)
	}
	if err := testEnv.Client.Create(h.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: h.ns}, Data: data}); err != nil {
		h.t.Fatal(err)
	}
	_, hasKey := secrets[signature.SecretKey]
	h.awaitEndpoint(name, hasKey)
	return ep
}

// awaitEndpoint waits until the listener's informers hold the endpoint and, with keys,
// its signing keys: what a delivery is looked up in. (A probe cannot tell: every delivery
// that does not verify gets the same answer.)
func (h *hookEnv) awaitEndpoint(name string, keys bool) {
	h.t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		ep, err := h.hooks.Endpoints.Endpoint(h.ctx, h.ns, name)
		if err == nil && (!keys || ep.SigningSecretName() != "") {
			if !keys {
				return
			}
			if k, err := h.hooks.Endpoints.Keys(h.ctx, h.ns, ep.SigningSecretName()); err == nil && len(k) > 0 {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the listener never saw endpoint %s/%s with its keys", h.ns, name)
		}
	}
}

func (h *hookEnv) post(endpoint string, headers http.Header, body []byte) (int, map[string]any) {
	return h.postTo(h.ns, endpoint, headers, body)
}

func (h *hookEnv) postTo(ns, endpoint string, headers http.Header, body []byte) (int, map[string]any) {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/hooks/"+ns+"/"+endpoint, bytes.NewReader(body))
	for k, v := range headers {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	if out == nil {
		out = map[string]any{}
	}
	out["_raw"] = string(raw)
	out["_retryAfter"] = resp.Header.Get("Retry-After")
	return resp.StatusCode, out
}

func (h *hookEnv) runs() []aiasv1alpha1.Run {
	h.t.Helper()
	var list aiasv1alpha1.RunList
	if err := testEnv.Client.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatal(err)
	}
	return list.Items
}

const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func sign(t *testing.T, cfg signature.Config, secret, id string, body []byte, at time.Time) http.Header {
	t.Helper()
	h, err := signature.Sign(cfg, signature.Key{Name: "secret", Value: []byte(secret)}, id, body, at)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

var std = signature.Config{Scheme: "StandardWebhooks", Tolerance: 5 * time.Minute}

// A delivery becomes one Run, in the endpoint's namespace, with the payload byte for
// byte; a redelivery answers 200 with the same Run; wrong secret, tampered body, stale
// or future timestamps and missing headers create nothing.
func TestHookDeliveryCreatesOneRun(t *testing.T) {
	h := newHookEnv(t)
	ep := h.endpoint("push", aiasv1alpha1.Verification{Scheme: aiasv1alpha1.SchemeStandardWebhooks}, nil, map[string]string{"secret": testSecret})
	body := []byte(`{"ref":"refs/heads/main"}`)
	now := time.Now()

	code, out := h.post("push", sign(t, std, testSecret, "msg_1", body, now), body)
	if code != http.StatusAccepted || out["status"] != "created" || out["namespace"] != h.ns || out["run"] != hooks.RunName(ep, "msg_1") {
		t.Fatalf("first delivery: %d %v", code, out)
	}
	code, out = h.post("push", sign(t, std, testSecret, "msg_1", body, now), body)
	if code != http.StatusOK || out["status"] != "duplicate" || out["run"] != hooks.RunName(ep, "msg_1") {
		t.Fatalf("redelivery: %d %v", code, out)
	}
	runs := h.runs()
	if len(runs) != 1 {
		t.Fatalf("%d runs", len(runs))
	}
	r := runs[0]
	if r.Spec.Input == nil || *r.Spec.Input != string(body) || r.Spec.Trigger.Type != aiasv1alpha1.TriggerWebhook ||
		r.Spec.Trigger.Endpoint != "push" || r.Spec.Trigger.DeliveryID != "msg_1" || r.Spec.WorkflowRef.Name != "wf" {
		t.Errorf("run spec %+v", r.Spec)
	}

	for name, c := range map[string]struct {
		headers http.Header
		body    []byte
		code    int
	}{
		"wrong secret":  {sign(t, std, "whsec_"+strings.Repeat("A", 32), "msg_2", body, now), body, 401},
		"tampered body": {sign(t, std, testSecret, "msg_3", body, now), []byte(`{"ref":"refs/heads/evil"}`), 401},
		"stale":         {sign(t, std, testSecret, "msg_4", body, now.Add(-6*time.Minute)), body, 401},
		"future":        {sign(t, std, testSecret, "msg_5", body, now.Add(6*time.Minute)), body, 401},
		"no headers":    {http.Header{}, body, 401},
	} {
		if code, out := h.post("push", c.headers, c.body); code != c.code || out["reason"] != hooks.ReasonUnverified {
			t.Errorf("%s: %d %v, want %d %s", name, code, out, c.code, hooks.ReasonUnverified)
		}
	}
	if n := len(h.runs()); n != 1 {
		t.Errorf("%d runs after refused deliveries, want 1", n)
	}
	h.assertLogsClean(testSecret, string(body), "evil")
}

// assertLogsClean fails if any captured log line holds a secret, a signature or a body.
func (h *hookEnv) assertLogsClean(secrets ...string) {
	h.t.Helper()
	logs := h.logs.String()
	if !strings.Contains(logs, "delivery") {
		h.t.Fatalf("no delivery was logged at all; the capture is broken:\n%s", logs)
	}
	for _, s := range append(secrets, "v1,", "webhook-signature", "sha256=") {
		if strings.Contains(logs, s) {
			h.t.Errorf("logs contain %q:\n%s", s, logs)
		}
	}
}

// Fifty concurrent deliveries of one id: exactly one Run, one 202, forty-nine 200s.
func TestHookConcurrentRedeliveries(t *testing.T) {
	h := newHookEnv(t)
	h.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	body := []byte(`{"n":1}`)
	headers := sign(t, std, testSecret, "msg_same", body, time.Now())
	var mu sync.Mutex
	codes := map[int]int{}
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			code, _ := h.post("push", headers, body)
			mu.Lock()
			codes[code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusAccepted] != 1 || codes[http.StatusOK] != 49 {
		t.Errorf("status codes %v, want one 202 and 49 200s", codes)
	}
	if n := len(h.runs()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

// Oversized bodies are refused before verification and leave nothing behind; large
// payloads within the cap go to the store and the Run references them.
func TestHookBodySizes(t *testing.T) {
	h := newHookEnv(t)
	h.endpoint("small", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) { ep.Spec.MaxBodyBytes = ptr.To[int64](64 << 10) },
		map[string]string{"secret": testSecret})
	big := bytes.Repeat([]byte("x"), 64<<10+1)
	if code, out := h.post("small", sign(t, std, testSecret, "msg_big", big, time.Now()), big); code != http.StatusRequestEntityTooLarge || out["reason"] != "TooLarge" {
		t.Errorf("oversized: %d %v", code, out)
	}
	if n := len(h.runs()); n != 0 {
		t.Errorf("%d runs after an oversized delivery", n)
	}
	large := []byte(`{"blob":"` + strings.Repeat("y", 40<<10) + `"}`)
	code, out := h.post("small", sign(t, std, testSecret, "msg_large", large, time.Now()), large)
	if code != http.StatusAccepted {
		t.Fatalf("large: %d %v", code, out)
	}
	r := h.runs()[0]
	if r.Spec.Input != nil || r.Spec.InputRef == nil || r.Spec.InputRef.Size != int64(len(large)) {
		t.Fatalf("large payload run spec %+v", r.Spec)
	}
	stored, _, err := testStore.GetInput(h.ctx, h.ns, r.Spec.InputRef.Digest)
	if err != nil || !bytes.Equal(stored, large) {
		t.Errorf("stored input differs (%v)", err)
	}
}

// Unknown endpoint and unknown namespace look the same; an endpoint's key never opens
// another namespace's endpoint of the same name; suspended endpoints answer 423 to a
// sender with the key.
func TestHookTenantIsolation(t *testing.T) {
	a := newHookEnv(t)
	b := newHookEnv(t)
	a.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	b.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": "whsec_" + strings.Repeat("Q", 32)})
	body := []byte(`{}`)
	headers := sign(t, std, testSecret, "msg_x", body, time.Now())

	c1, o1 := a.postTo(a.ns, "nope", headers, body)
	c2, o2 := a.postTo("no-such-namespace", "push", headers, body)
	if c1 != http.StatusUnauthorized || c1 != c2 || o1["_raw"] != o2["_raw"] {
		t.Errorf("unknown endpoint %d %v vs unknown namespace %d %v", c1, o1["_raw"], c2, o2["_raw"])
	}
	if code, _ := a.postTo(b.ns, "push", headers, body); code != http.StatusUnauthorized {
		t.Errorf("A's signature on B's endpoint: %d", code)
	}
	if code, _ := a.postTo(a.ns+"%2F..%2F"+b.ns, "push", headers, body); code != http.StatusUnauthorized {
		t.Errorf("path trick: %d", code)
	}
	if len(b.runs()) != 0 {
		t.Error("a Run appeared in B")
	}
	if code, _ := a.postTo(a.ns, "push", headers, body); code != http.StatusAccepted || len(a.runs()) != 1 {
		t.Errorf("A's own delivery: %d", code)
	}

	a.endpoint("paused", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) { ep.Spec.Suspend = true }, map[string]string{"secret": testSecret})
	if code, out := a.post("paused", sign(t, std, testSecret, "msg_p", body, time.Now()), body); code != http.StatusLocked || out["reason"] != "Suspended" {
		t.Errorf("suspended: %d %v", code, out)
	}
}

// Verified deliveries beyond the bucket get 429 with Retry-After; a rotated Secret
// verifies with either key; other schemes map onto the same answers.
func TestHookRateLimitRotationAndSchemes(t *testing.T) {
	h := newHookEnv(t)
	h.endpoint("limited", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) {
		ep.Spec.RateLimit = &aiasv1alpha1.RateLimit{RequestsPerMinute: 1, Burst: ptr.To[int32](2)}
	}, map[string]string{"secret": testSecret})
	body := []byte(`{}`)
	for i := range 3 {
		code, out := h.post("limited", sign(t, std, testSecret, fmt.Sprintf("msg_%d", i), body, time.Now()), body)
		want := http.StatusAccepted
		if i == 2 {
			want = http.StatusTooManyRequests
		}
		if code != want || (i == 2 && out["_retryAfter"] == "") {
			t.Errorf("delivery %d: %d %v", i, code, out)
		}
	}

	newKey := "whsec_" + strings.Repeat("N", 32)
	h.endpoint("rotated", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret, "secret-1": newKey})
	for i, key := range []string{testSecret, newKey} {
		if code, _ := h.post("rotated", sign(t, std, key, fmt.Sprintf("rot_%d", i), body, time.Now()), body); code != http.StatusAccepted {
			t.Errorf("rotated key %d: %d", i, code)
		}
	}

	gh := signature.Config{Scheme: "GitHub"}
	h.endpoint("github", aiasv1alpha1.Verification{Scheme: aiasv1alpha1.SchemeGitHub}, nil, map[string]string{"secret": "gh-secret"})
	if code, _ := h.post("github", sign(t, gh, "gh-secret", "d-1", body, time.Now()), body); code != http.StatusAccepted {
		t.Errorf("github: %d", code)
	}
	if code, _ := h.post("github", sign(t, gh, "other", "d-2", body, time.Now()), body); code != http.StatusUnauthorized {
		t.Errorf("github wrong secret: %d", code)
	}
	tok := signature.Config{Scheme: "Token"}
	h.endpoint("token", aiasv1alpha1.Verification{Scheme: aiasv1alpha1.SchemeToken, DeliveryIDHeader: "X-Request-Id"}, nil, map[string]string{"secret": "t0ken"})
	hdr := sign(t, signature.Config{Scheme: "Token", DeliveryIDHeader: "X-Request-Id"}, "t0ken", "req-1", body, time.Now())
	if code, out := h.post("token", hdr, body); code != http.StatusAccepted {
		t.Errorf("token: %d %v", code, out)
	}
	_ = tok
	h.assertLogsClean(testSecret, newKey, "gh-secret", "t0ken")
}

var _ = logr.Discard

// A Secret under the generated name that the WebhookEndpoint controller has not claimed
// in status (e.g. one planted by someone else) never verifies a delivery.
func TestHookUnclaimedSecretVerifiesNothing(t *testing.T) {
	h := newHookEnv(t)
	ep := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "unclaimed", Namespace: h.ns},
		Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}}}
	if err := testEnv.Client.Create(h.ctx, ep); err != nil {
		t.Fatal(err)
	}
	planted := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "unclaimed-signing", Namespace: h.ns}, Data: map[string][]byte{"secret": []byte(testSecret)}}
	if err := testEnv.Client.Create(h.ctx, planted); err != nil {
		t.Fatal(err)
	}
	h.awaitEndpoint("unclaimed", false)
	body := []byte(`{}`)
	if code, out := h.post("unclaimed", sign(t, std, testSecret, "msg_u", body, time.Now()), body); code != http.StatusUnauthorized ||
		out["reason"] != hooks.ReasonUnverified || len(h.runs()) != 0 {
		t.Errorf("delivery signed with an unclaimed Secret: %d %v", code, out)
	}
	h.awaitLogged("unclaimed", "unauthorized", "NoSigningKey")
}

// awaitLogged waits until the endpoint's delivery log holds a row with outcome and reason.
func (h *hookEnv) awaitLogged(endpoint, outcome, reason string) {
	h.t.Helper()
	ep, err := h.hooks.Endpoints.Endpoint(h.ctx, h.ns, endpoint)
	if err != nil {
		h.t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		page, err := testStore.ListDeliveryLog(h.ctx, string(ep.UID), 100, "")
		if err != nil {
			h.t.Fatal(err)
		}
		for _, d := range page.Deliveries {
			if d.Outcome == outcome && d.Reason == reason {
				return
			}
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the log of %s never held %s/%s: %+v", endpoint, outcome, reason, page.Deliveries)
		}
	}
}

// A tenant that has started its plan's runs for the period gets 429 QuotaExceeded with
// a Retry-After until the next period, and no Run is created.
func TestHookQuotaExhausted(t *testing.T) {
	h := newHookEnv(t)
	tenant := h.onPlan("one", aiasv1alpha1.PlanLimits{RunsPerMonth: ptr.To[int64](1)})
	h.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	body := []byte(`{}`)
	if code, out := h.post("push", sign(t, std, testSecret, "q_1", body, time.Now()), body); code != http.StatusAccepted {
		t.Fatalf("within quota: %d %v", code, out)
	}
	// The Run controller counts a Run when it starts; do what it would.
	period := time.Date(time.Now().UTC().Year(), time.Now().UTC().Month(), 1, 0, 0, 0, 0, time.UTC)
	if ok, _, err := testStore.ClaimRun(h.ctx, store.RunClaim{RunUID: servertest.FreshUID(), TenantUID: string(tenant.UID), PeriodStart: period, Limit: 1}); !ok || err != nil {
		t.Fatalf("claim: %v %v", ok, err)
	}
	var code int
	var out map[string]any
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		// The listener's Tenant and Plan informers may lag their creation a moment.
		if code, out = h.post("push", sign(t, std, testSecret, fmt.Sprintf("q_%d", time.Now().UnixNano()), body, time.Now()), body); code == http.StatusTooManyRequests {
			break
		}
	}
	if code != http.StatusTooManyRequests || out["reason"] != "QuotaExceeded" || out["_retryAfter"] == "" {
		t.Fatalf("over quota: %d %v", code, out)
	}
	if n := len(h.runs()); n > 2 {
		t.Errorf("%d runs; deliveries over the quota created Runs", n)
	}
}

// onPlan makes the namespace a Tenant's, on a Plan of its own with limits (both deleted
// when the test ends), and waits until the listener resolves that plan.
func (h *hookEnv) onPlan(suffix string, limits aiasv1alpha1.PlanLimits) *aiasv1alpha1.Tenant {
	h.t.Helper()
	tenant, plan := fixtures.TenantOnPlan(h.t, testEnv.Client, h.ns, h.ns+"-"+suffix, limits)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if e, err := h.hooks.Endpoints.Entitlement(h.ctx, h.ns); err == nil && e != nil && e.Plan != nil && e.Plan.Name == plan.Name {
			return tenant
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the listener never resolved plan %s for %s", plan.Name, h.ns)
		}
	}
}
