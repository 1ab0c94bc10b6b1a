package billing_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
	"github.com/aias-dev/aias/webhookserver"
	"github.com/aias-dev/aias/webhookserver/billing"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

const testStripeSecret = "whsec_test_billing_secret"

// countingClient counts (and can fail) the Tenant status patches the billing server makes.
type countingClient struct {
	client.Client
	patches atomic.Int32
	fail    atomic.Int32
}

func (c *countingClient) Status() client.SubResourceWriter {
	return countingStatus{SubResourceWriter: c.Client.Status(), c: c}
}

type countingStatus struct {
	client.SubResourceWriter
	c *countingClient
}

func (s countingStatus) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	if s.c.fail.Add(-1) >= 0 {
		return errors.New("apiserver down")
	}
	s.c.fail.Store(0)
	s.c.patches.Add(1)
	return s.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

// The package shares one control plane (billing reads and patches Tenants, and shares
// the public listener with the hooks) and one database.
var (
	testEnv   *testenv.Env
	testStore *store.Store
)

func TestMain(m *testing.M) { fixtures.Main(m, "aias_billing_test", &testEnv, &testStore) }

type billingEnv struct {
	t       *testing.T
	ctx     context.Context
	url     string
	billing *billing.Server
	client  *countingClient
	logs    *servertest.Logs
	secret  string
}

var billingCounter atomic.Int64

func uniq() string {
	return fmt.Sprintf("%d%d", time.Now().UnixNano()%1000000000, billingCounter.Add(1))
}

// newBillingEnv is the public listener with billing enabled (or not, secret "").
func newBillingEnv(t *testing.T, secret string) *billingEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	b := &billingEnv{t: t, ctx: ctx, logs: &servertest.Logs{}, secret: secret}
	o := webhookserver.Options{RestConfig: testEnv.Config, Log: b.logs.Logger()}
	if secret != "" {
		o.StripeWebhookSecretFile = filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(o.StripeWebhookSecretFile, []byte(secret+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	public, err := webhookserver.NewPublic(ctx, o, testStore)
	if err != nil {
		t.Fatal(err)
	}
	if public.Billing != nil {
		b.client = &countingClient{Client: public.Billing.Client}
		public.Billing.Client = b.client
	}
	b.billing = public.Billing
	srv := httptest.NewServer(public.Handler())
	t.Cleanup(srv.Close)
	b.url = srv.URL
	return b
}

// tenant creates a Tenant billed to a new customer and waits until the listener's cache
// finds it by customer.
func (b *billingEnv) tenant() (name, customer string) {
	b.t.Helper()
	id := uniq()
	name, customer = "billing-"+id, "cus_T"+id
	tn := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: aiasv1alpha1.TenantSpec{Billing: &aiasv1alpha1.TenantBilling{StripeCustomerID: customer}}}
	if err := testEnv.Client.Create(b.ctx, tn); err != nil {
		b.t.Fatal(err)
	}
	b.t.Cleanup(func() { _ = testEnv.Client.Delete(context.Background(), tn) })
	deadline := time.Now().Add(10 * time.Second)
	for {
		names, err := b.billing.Tenants.TenantsForCustomer(b.ctx, customer)
		if err == nil && len(names) == 1 {
			return name, customer
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("the cache never found tenant %s: %v %v", name, names, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func stripeEvent(id, typ string, created time.Time, obj map[string]any) []byte {
	body, _ := json.Marshal(map[string]any{
		"id": id, "object": "event", "type": typ, "created": created.Unix(), "api_version": "2020-08-27",
		"livemode": false, "pending_webhooks": 1, "data": map[string]any{"object": obj},
	})
	return body
}

func subscriptionObject(sub, customer, status, price string, periodEnd time.Time) map[string]any {
	return map[string]any{
		"id": sub, "object": "subscription", "customer": customer, "status": status,
		"current_period_end": periodEnd.Unix(), "created": periodEnd.Add(-30 * 24 * time.Hour).Unix(),
		"items": map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_1", "price": map[string]any{"id": price}}}},
	}
}

func invoiceObject(customer, sub string) map[string]any {
	return map[string]any{"id": "in_" + uniq(), "object": "invoice", "customer": customer, "subscription": sub}
}

// post delivers body signed with the env's secret.
func (b *billingEnv) post(body []byte) (int, map[string]any) {
	b.t.Helper()
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: b.secret, Timestamp: time.Now()})
	return b.do(http.MethodPost, body, signed.Header)
}

func (b *billingEnv) do(method string, body []byte, sig string) (int, map[string]any) {
	b.t.Helper()
	req, _ := http.NewRequest(method, b.url+billing.Path, bytes.NewReader(body))
	if sig != "" {
		req.Header.Set("Stripe-Signature", sig)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	_ = json.Unmarshal(raw, &out)
	out["_raw"] = string(raw)
	out["_allow"] = resp.Header.Get("Allow")
	return resp.StatusCode, out
}

func (b *billingEnv) expect(body []byte, wantCode int, wantStatus string) map[string]any {
	b.t.Helper()
	code, out := b.post(body)
	if code != wantCode || out["status"] != wantStatus {
		b.t.Fatalf("got %d %v, want %d %q", code, out["_raw"], wantCode, wantStatus)
	}
	return out
}

func (b *billingEnv) subscription(name string) *aiasv1alpha1.SubscriptionStatus {
	b.t.Helper()
	var tn aiasv1alpha1.Tenant
	if err := testEnv.Client.Get(b.ctx, client.ObjectKey{Name: name}, &tn); err != nil {
		b.t.Fatal(err)
	}
	if tn.Status.Subscription == nil {
		return &aiasv1alpha1.SubscriptionStatus{}
	}
	return tn.Status.Subscription
}

func TestBillingSubscriptionLifecycle(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	name, customer := b.tenant()
	sub := "sub_" + uniq()
	t0 := time.Now().Add(-time.Hour).Truncate(time.Second)
	end := t0.Add(30 * 24 * time.Hour)

	created := stripeEvent("evt_c"+uniq(), "customer.subscription.created", t0, subscriptionObject(sub, customer, "active", "price_pro", end))
	if out := b.expect(created, http.StatusOK, "applied"); out["tenant"] != name {
		t.Fatalf("tenant %v, want %s", out["tenant"], name)
	}
	s := b.subscription(name)
	if s.ID != sub || s.Status != "active" || s.PriceID != "price_pro" || s.CurrentPeriodEnd == nil || !s.CurrentPeriodEnd.Time.Equal(end) ||
		s.PastDueSince != nil || s.UpdatedAt == nil || !s.UpdatedAt.Time.Equal(t0) {
		t.Fatalf("subscription after created: %+v", s)
	}

	// A redelivery is answered as a duplicate and not applied again.
	b.expect(created, http.StatusOK, "duplicate")
	if n := b.client.patches.Load(); n != 1 {
		t.Fatalf("%d patches, want 1", n)
	}

	// A newer update, then an older one delivered late: the older one takes its place in
	// the subscription's history, before the newer one, and does not overwrite it.
	b.expect(stripeEvent("evt_u2"+uniq(), "customer.subscription.updated", t0.Add(20*time.Second),
		subscriptionObject(sub, customer, "active", "price_team", end)), http.StatusOK, "applied")
	b.expect(stripeEvent("evt_u1"+uniq(), "customer.subscription.updated", t0.Add(10*time.Second),
		subscriptionObject(sub, customer, "active", "price_basic", end)), http.StatusOK, "applied")
	if s := b.subscription(name); s.PriceID != "price_team" || !s.UpdatedAt.Time.Equal(t0.Add(20*time.Second)) {
		t.Fatalf("a stale event was applied: %+v", s)
	}

	// A failed payment: past_due since the event; a second failure keeps the first date.
	b.expect(stripeEvent("evt_f1"+uniq(), "invoice.payment_failed", t0.Add(30*time.Second), invoiceObject(customer, sub)), http.StatusOK, "applied")
	s = b.subscription(name)
	if s.Status != "past_due" || s.PastDueSince == nil || !s.PastDueSince.Time.Equal(t0.Add(30*time.Second)) || s.PriceID != "price_team" {
		t.Fatalf("subscription after payment_failed: %+v", s)
	}
	b.expect(stripeEvent("evt_f2"+uniq(), "invoice.payment_failed", t0.Add(40*time.Second), invoiceObject(customer, sub)), http.StatusOK, "applied")
	if s := b.subscription(name); !s.PastDueSince.Time.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("pastDueSince moved: %+v", s)
	}
	// An invoice of another subscription is kept for that one (its object may come later);
	// the Tenant still shows the subscription it knows.
	b.expect(stripeEvent("evt_o"+uniq(), "invoice.paid", t0.Add(45*time.Second), invoiceObject(customer, "sub_other")), http.StatusOK, "applied")
	if s := b.subscription(name); s.ID != sub || s.Status != "past_due" {
		t.Fatalf("an invoice of another subscription changed the Tenant's: %+v", s)
	}

	// Paid: active again, pastDueSince cleared.
	b.expect(stripeEvent("evt_p"+uniq(), "invoice.paid", t0.Add(50*time.Second), invoiceObject(customer, sub)), http.StatusOK, "applied")
	if s := b.subscription(name); s.Status != "active" || s.PastDueSince != nil {
		t.Fatalf("subscription after invoice.paid: %+v", s)
	}

	// Deleted: canceled (whatever the object's status says).
	deleted := stripeEvent("evt_d"+uniq(), "customer.subscription.deleted", t0.Add(60*time.Second), subscriptionObject(sub, customer, "active", "price_team", end))
	b.expect(deleted, http.StatusOK, "applied")
	if s := b.subscription(name); s.Status != "canceled" || s.ID != sub {
		t.Fatalf("subscription after deleted: %+v", s)
	}

	// The spec is untouched and every event is recorded.
	var tn aiasv1alpha1.Tenant
	if err := testEnv.Client.Get(b.ctx, client.ObjectKey{Name: name}, &tn); err != nil {
		t.Fatal(err)
	}
	if tn.Spec.Billing == nil || tn.Spec.Billing.StripeCustomerID != customer {
		t.Fatalf("spec changed: %+v", tn.Spec)
	}
	var ev struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(deleted, &ev)
	rec, err := testStore.GetBillingEvent(b.ctx, ev.ID)
	if err != nil || rec.ProcessedAt == nil || rec.Tenant != name || rec.Outcome != "applied" || rec.Customer != customer {
		t.Fatalf("record %+v %v", rec, err)
	}
	if strings.Contains(b.logs.String(), testStripeSecret) || strings.Contains(b.logs.String(), "price_team") {
		t.Fatalf("the log holds the secret or the body:\n%s", b.logs.String())
	}
}

func TestBillingConcurrentDeliveries(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	name, customer := b.tenant()
	body := stripeEvent("evt_cc"+uniq(), "customer.subscription.created", time.Now().Add(-time.Minute),
		subscriptionObject("sub_"+uniq(), customer, "trialing", "price_pro", time.Now().Add(time.Hour)))
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for range 8 {
		wg.Go(func() {
			code, out := b.post(body)
			mu.Lock()
			defer mu.Unlock()
			codes[fmt.Sprintf("%d %v", code, out["status"])]++
		})
	}
	wg.Wait()
	if n := b.client.patches.Load(); n != 1 {
		t.Fatalf("%d applications of one event, want 1 (answers %v)", n, codes)
	}
	if codes["200 applied"] != 1 {
		t.Fatalf("answers %v: want exactly one applied", codes)
	}
	for k := range codes {
		if k != "200 applied" && k != "200 duplicate" && !strings.HasPrefix(k, "409") {
			t.Fatalf("unexpected answer %q (%v)", k, codes)
		}
	}
	b.expect(body, http.StatusOK, "duplicate")
	if s := b.subscription(name); s.Status != "trialing" {
		t.Fatalf("subscription %+v", s)
	}
}

// A failure after the claim (the apiserver is down) answers 503 and gives the event
// back, so that Stripe's retry applies it.
func TestBillingRetryAfterFailure(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	name, customer := b.tenant()
	id := "evt_r" + uniq()
	body := stripeEvent(id, "customer.subscription.created", time.Now().Add(-time.Minute),
		subscriptionObject("sub_"+uniq(), customer, "active", "price_pro", time.Now().Add(time.Hour)))
	b.client.fail.Store(1)
	if code, out := b.post(body); code != http.StatusServiceUnavailable || out["reason"] != "Unavailable" {
		t.Fatalf("got %d %v, want 503", code, out["_raw"])
	}
	if _, err := testStore.GetBillingEvent(b.ctx, id); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("the failed event is still claimed: %v", err)
	}
	b.expect(body, http.StatusOK, "applied")
	if s := b.subscription(name); s.Status != "active" {
		t.Fatalf("subscription %+v", s)
	}
}

func TestBillingUnmatchedAndIgnored(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	id := "evt_un" + uniq()
	b.expect(stripeEvent(id, "customer.subscription.created", time.Now(),
		subscriptionObject("sub_x", "cus_Nobody"+uniq(), "active", "price_pro", time.Now().Add(time.Hour))), http.StatusOK, "unmatched")
	rec, err := testStore.GetBillingEvent(b.ctx, id)
	if err != nil || rec.ProcessedAt == nil || rec.Outcome != "unmatched" || rec.Tenant != "" {
		t.Fatalf("record %+v %v", rec, err)
	}
	// Recorded, so a redelivery is not processed again.
	b.expect(stripeEvent(id, "customer.subscription.created", time.Now(),
		subscriptionObject("sub_x", "cus_Nobody", "active", "price_pro", time.Now().Add(time.Hour))), http.StatusOK, "duplicate")

	id = "evt_ig" + uniq()
	b.expect(stripeEvent(id, "charge.succeeded", time.Now(), map[string]any{"id": "ch_1", "object": "charge", "customer": "cus_X"}), http.StatusOK, "ignored")
	if rec, err := testStore.GetBillingEvent(b.ctx, id); err != nil || rec.Outcome != "ignored" || rec.Type != "charge.succeeded" {
		t.Fatalf("record %+v %v", rec, err)
	}
}

func TestBillingRefusals(t *testing.T) {
	b := newBillingEnv(t, testStripeSecret)
	body := stripeEvent("evt_bad"+uniq(), "customer.subscription.created", time.Now(), map[string]any{"id": "sub_1", "customer": "cus_X"})

	wrong := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: "whsec_wrong", Timestamp: time.Now()})
	if code, out := b.do(http.MethodPost, body, wrong.Header); code != http.StatusBadRequest || out["reason"] != "InvalidSignature" || out["error"] == "" {
		t.Fatalf("wrong secret: %d %v", code, out["_raw"])
	}
	if code, out := b.do(http.MethodPost, body, ""); code != http.StatusBadRequest || out["reason"] != "MissingSignature" {
		t.Fatalf("no signature: %d %v", code, out["_raw"])
	}
	old := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: testStripeSecret, Timestamp: time.Now().Add(-time.Hour)})
	if code, out := b.do(http.MethodPost, body, old.Header); code != http.StatusBadRequest || out["reason"] != "StaleSignature" {
		t.Fatalf("old signature: %d %v", code, out["_raw"])
	}
	if code, out := b.do(http.MethodPut, body, ""); code != http.StatusMethodNotAllowed || out["_allow"] != http.MethodPost {
		t.Fatalf("PUT: %d %v", code, out)
	}
	big := bytes.Repeat([]byte("x"), billing.MaxBodyBytes+1)
	if code, out := b.post(big); code != http.StatusRequestEntityTooLarge || out["reason"] != "TooLarge" {
		t.Fatalf("oversize: %d %v", code, out["_raw"])
	}
	if code, out := b.do(http.MethodGet, nil, ""); code != http.StatusMethodNotAllowed || out["_allow"] != http.MethodPost {
		t.Fatalf("GET: %d %v", code, out)
	}
	// The hooks still answer on the same listener.
	req, _ := http.NewRequest(http.MethodPut, b.url+"/hooks/nowhere/nothing", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("PUT /hooks/...: %d, want the hooks' 405", resp.StatusCode)
	}
	if strings.Contains(b.logs.String(), testStripeSecret) || strings.Contains(b.logs.String(), "v1=") {
		t.Fatalf("the log holds the secret or a signature:\n%s", b.logs.String())
	}
}

func TestBillingDisabled(t *testing.T) {
	b := newBillingEnv(t, "")
	if b.billing != nil {
		t.Fatal("billing enabled without a secret file")
	}
	code, out := b.do(http.MethodPost, []byte(`{}`), "t=1,v1=00")
	if code != http.StatusNotFound || out["reason"] != "NotFound" {
		t.Fatalf("disabled billing: %d %v", code, out["_raw"])
	}
}
