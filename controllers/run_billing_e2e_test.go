package controllers

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v76/webhook"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/webhookserver"
	"github.com/aias-dev/aias/webhookserver/billing"
)

// A tenant out of runs for the period upgrades through Stripe: a signed
// customer.subscription.created event for the bigger plan's price, delivered to the real
// billing endpoint, lifts the refusal for the very next Run.
func TestRunQuotaLiftedByStripeUpgrade(t *testing.T) {
	h := newRunHarness(t)
	small := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: h.ns + "-small"},
		Spec: aiasv1alpha1.PlanSpec{Limits: aiasv1alpha1.PlanLimits{RunsPerMonth: ptr.To[int64](1)}}}
	big := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: h.ns + "-big"},
		Spec: aiasv1alpha1.PlanSpec{StripePriceIDs: []string{"price_bigE2E"}, Limits: aiasv1alpha1.PlanLimits{RunsPerMonth: ptr.To[int64](100)}}}
	tenant := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: h.ns},
		Spec: aiasv1alpha1.TenantSpec{Plan: small.Name, Billing: &aiasv1alpha1.TenantBilling{StripeCustomerID: "cus_E2E" + strings.ReplaceAll(h.ns, "-", "")}}}
	for _, o := range []client.Object{small, big, tenant} {
		if err := h.c.Create(h.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = h.c.Delete(h.ctx, tenant); _ = h.c.Delete(h.ctx, small); _ = h.c.Delete(h.ctx, big) })
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("s")}})
	time.Sleep(300 * time.Millisecond) // the manager's cache has the Tenant and Plans
	h.run("first", "w", "")
	h.waitJobs("first", "first-s-1")
	h.run("second", "w", "")
	if c := readyCondition(h.waitPhase("second", aiasv1alpha1.RunRejected)); c == nil || c.Reason != "QuotaExceeded" {
		t.Fatalf("second run: %+v", c)
	}

	dir := t.TempDir()
	const secret = "whsec_e2eUpgradeSecret"
	secretFile, keyFile := filepath.Join(dir, "stripe"), filepath.Join(dir, "key")
	_ = os.WriteFile(secretFile, []byte(secret), 0o600)
	_ = os.WriteFile(keyFile, bytes.Repeat([]byte("e"), 32), 0o600)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	addrs, _, err := webhookserver.Start(ctx, webhookserver.Options{PublicAddr: "127.0.0.1:0", InternalAddr: "0", MetricsAddr: "0",
		DatabaseURL: testStore.Pool().Config().ConnString(), StepTokenKeyFile: keyFile, StripeWebhookSecretFile: secretFile,
		RestConfig: testEnv.Config})
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + addrs.Public + billing.Path
	body, _ := json.Marshal(map[string]any{
		"id": "evt_e2e" + h.ns[len(h.ns)-5:], "object": "event", "type": "customer.subscription.created", "created": time.Now().Unix(),
		"api_version": "2023-10-16", "data": map[string]any{"object": map[string]any{
			"id": "sub_e2e", "object": "subscription", "customer": tenant.Spec.Billing.StripeCustomerID, "status": "active",
			"current_period_end": time.Now().AddDate(0, 1, 0).Unix(),
			"items":              map[string]any{"object": "list", "data": []any{map[string]any{"id": "si_1", "price": map[string]any{"id": "price_bigE2E"}}}},
		}}})
	signed := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: time.Now()})
	var status int
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		req.Header.Set("Stripe-Signature", signed.Header)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		status = resp.StatusCode
		if status == http.StatusOK && out["status"] == "applied" {
			break
		}
	}
	if status != http.StatusOK {
		t.Fatalf("billing endpoint answered %d", status)
	}
	h.eventually(10*time.Second, "the subscription in the Tenant's status", func() (bool, string) {
		tn := &aiasv1alpha1.Tenant{}
		_ = h.c.Get(h.ctx, client.ObjectKey{Name: h.ns}, tn)
		return tn.Status.Subscription != nil && tn.Status.Subscription.PriceID == "price_bigE2E", ""
	})
	time.Sleep(300 * time.Millisecond) // the Run controller's cache sees it
	h.run("third", "w", "")
	h.waitJobs("third", "third-s-1")
}
