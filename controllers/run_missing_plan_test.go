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

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/signature"
	"github.com/aias-dev/aias/webhookserver"
)

// A Tenant whose plan does not exist gets the most restrictive behaviour: its Run is
// Rejected (QuotaExceeded) with a message naming the missing plan, and no Job starts.
// Reproduces main, where Entitlement.Limits() gave such a Tenant no limits at all and the
// Run ran to its Jobs.
func TestRunOnMissingPlanRejected(t *testing.T) {
	h := newRunHarness(t)
	missing := h.ns + "-gone"
	tenant := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: h.ns}, Spec: aiasv1alpha1.TenantSpec{Plan: missing}}
	if err := h.c.Create(h.ctx, tenant); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.c.Delete(h.ctx, tenant) })
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("s")}})
	time.Sleep(300 * time.Millisecond) // the manager's cache has the Tenant
	h.run("first", "w", "")
	run := h.waitPhase("first", aiasv1alpha1.RunRejected)
	c := readyCondition(run)
	if c == nil || c.Reason != "QuotaExceeded" || !strings.Contains(c.Message, `plan "`+missing+`" does not exist`) {
		t.Errorf("ready = %+v, want QuotaExceeded naming the missing plan %s", c, missing)
	}
	if n := len(h.jobs("first")); n != 0 {
		t.Errorf("%d Jobs started for a Run on a missing plan", n)
	}
}

// A delivery to an endpoint of a Tenant whose plan does not exist is refused before it
// becomes a Run. Reproduces main, where the hook listener's quota check found no
// runsPerMonth limit on a missing plan and created the Run.
func TestDeliveryOnMissingPlanRefused(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	missing := h.ns + "-gone"
	tenant := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: h.ns}, Spec: aiasv1alpha1.TenantSpec{Plan: missing}}
	if err := h.c.Create(h.ctx, tenant); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.c.Delete(context.Background(), tenant) })
	h.createWorkflow("build")
	secret := validWhsec("missing-plan")
	h.createSecret("hook", map[string]string{"secret": secret})
	h.createEndpoint("hook", "build", "hook", "")
	h.waitReady("hook", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)

	keyFile := filepath.Join(t.TempDir(), "key")
	_ = os.WriteFile(keyFile, bytes.Repeat([]byte("p"), 32), 0o600)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	addrs, _, err := webhookserver.Start(ctx, webhookserver.Options{PublicAddr: "127.0.0.1:0", InternalAddr: "0", MetricsAddr: "0", UserAddr: "0",
		DatabaseURL: testStore.Pool().Config().ConnString(), StepTokenKeyFile: keyFile, RestConfig: testEnv.Config})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // the listener's informer has the endpoint and the Tenant
	ep := h.getEndpoint("hook")
	headers, err := signature.Sign(signature.ConfigFor(ep.Spec.Verification), signature.Key{Name: "secret", Value: []byte(secret)}, "d-missing-plan", []byte(`{"n":1}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, "http://"+addrs.Public+ep.HookURL(""), strings.NewReader(`{"n":1}`))
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("delivery answered %d %v, want 429", resp.StatusCode, out)
	}
	if out["reason"] == "QuotaExceeded" {
		if msg, _ := out["error"].(string); !strings.Contains(msg, `plan "`+missing+`" does not exist`) {
			t.Errorf("message %q does not name the missing plan", msg)
		}
	}
	var runs aiasv1alpha1.RunList
	if err := h.c.List(h.ctx, &runs, client.InNamespace(h.ns)); err != nil {
		t.Fatal(err)
	}
	if len(runs.Items) != 0 {
		t.Errorf("%d Runs created from a delivery on a missing plan", len(runs.Items))
	}
}
