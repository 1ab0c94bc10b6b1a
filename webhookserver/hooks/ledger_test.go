package hooks_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/signature"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/hooks"
)

// One signed GitHub body POSTed under X-GitHub-Delivery d-1, d-2 and d-3 is one
// delivery: the header is not covered by the signature, so within the replay window the
// body's digest identifies it. A different body under an old id is a new delivery of
// that id only if its id is new too (the ledger's key is the id).
func TestHookReplayUnderNewDeliveryIDIsDuplicate(t *testing.T) {
	h := newHookEnv(t)
	ep := h.endpoint("github", aiasv1alpha1.Verification{Scheme: aiasv1alpha1.SchemeGitHub}, nil, map[string]string{"secret": "gh-secret"})
	gh := signature.Config{Scheme: signature.GitHub}
	body := []byte(`{"ref":"refs/heads/main","after":"abc"}`)
	for i, id := range []string{"d-1", "d-2", "d-3"} {
		code, out := h.post("github", sign(t, gh, "gh-secret", id, body, time.Now()), body)
		wantCode, wantStatus := http.StatusOK, "duplicate"
		if i == 0 {
			wantCode, wantStatus = http.StatusAccepted, "created"
		}
		if code != wantCode || out["status"] != wantStatus || out["run"] != hooks.RunName(ep, "d-1") {
			t.Errorf("delivery %s: %d %v, want %d %s of the first delivery's run", id, code, out, wantCode, wantStatus)
		}
	}
	other := []byte(`{"ref":"refs/heads/main","after":"def"}`)
	if code, out := h.post("github", sign(t, gh, "gh-secret", "d-4", other, time.Now()), other); code != http.StatusAccepted {
		t.Errorf("a new body under a new id: %d %v", code, out)
	}
	if n := len(h.runs()); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
	h.assertLogsClean("gh-secret", string(body))
}

// Deduplication does not depend on the Run: a redelivery after the Run was deleted (or
// pruned by spec.history) is answered "duplicate" from the ledger and starts nothing.
func TestHookRedeliveryAfterRunDeletedIsDuplicate(t *testing.T) {
	h := newHookEnv(t)
	ep := h.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	body := []byte(`{"n":1}`)
	headers := sign(t, std, testSecret, "msg_gone", body, time.Now())
	if code, out := h.post("push", headers, body); code != http.StatusAccepted {
		t.Fatalf("first delivery: %d %v", code, out)
	}
	// The listener marks the row created in the background (and the Run controller does
	// when it indexes the Run): wait for it, as the Run's life would.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var outcome string
		_ = testStore.Pool().QueryRow(h.ctx, `select outcome from deliveries where endpoint_uid = $1 and delivery_id = $2`, string(ep.UID), "msg_gone").Scan(&outcome)
		if outcome == store.DeliveryCreated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivery still %q", outcome)
		}
		time.Sleep(10 * time.Millisecond)
	}
	run := &aiasv1alpha1.Run{}
	key := client.ObjectKey{Namespace: h.ns, Name: hooks.RunName(ep, "msg_gone")}
	if err := testEnv.Client.Get(h.ctx, key, run); err != nil {
		t.Fatal(err)
	}
	run.Finalizers = nil // no Run controller runs here to release it
	if err := testEnv.Client.Update(h.ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := testEnv.Client.Delete(h.ctx, run); err != nil {
		t.Fatal(err)
	}
	if code, out := h.post("push", headers, body); code != http.StatusOK || out["status"] != "duplicate" || out["run"] != key.Name {
		t.Errorf("redelivery after the run was deleted: %d %v", code, out)
	}
	if n := len(h.runs()); n != 0 {
		t.Errorf("%d runs, want 0: the redelivery started the deleted run again", n)
	}
}

// A delivery recorded by a listener that stopped before creating its Run is completed by
// the redelivery: the ledger row is pending, and the Run is created (once) by its name.
func TestHookRedeliveryCompletesPendingDelivery(t *testing.T) {
	h := newHookEnv(t)
	ep := h.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	body := []byte(`{"n":2}`)
	if prev, err := testStore.RecordDelivery(h.ctx, store.Delivery{EndpointUID: string(ep.UID), DeliveryID: "msg_crash",
		Namespace: h.ns, Endpoint: ep.Name, BodySize: int64(len(body)), RunName: hooks.RunName(ep, "msg_crash"),
		ReceivedAt: time.Now(), Window: time.Hour}); prev != nil || err != nil {
		t.Fatalf("recording: %v %v", prev, err)
	}
	headers := sign(t, std, testSecret, "msg_crash", body, time.Now())
	if code, out := h.post("push", headers, body); code != http.StatusAccepted || out["status"] != "created" {
		t.Fatalf("redelivery of a pending delivery: %d %v", code, out)
	}
	if code, out := h.post("push", headers, body); code != http.StatusOK || out["status"] != "duplicate" {
		t.Errorf("third delivery: %d %v", code, out)
	}
	if n := len(h.runs()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
}

// A redelivery whose Run was Rejected tells the sender so (409 RunRejected), instead of
// a 200 "duplicate" that reads as success.
func TestHookRedeliveryOfRejectedRunSaysSo(t *testing.T) {
	h := newHookEnv(t)
	ep := h.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	body := []byte(`{"n":3}`)
	headers := sign(t, std, testSecret, "msg_rej", body, time.Now())
	if code, out := h.post("push", headers, body); code != http.StatusAccepted {
		t.Fatalf("first delivery: %d %v", code, out)
	}
	run := &aiasv1alpha1.Run{}
	if err := testEnv.Client.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: hooks.RunName(ep, "msg_rej")}, run); err != nil {
		t.Fatal(err)
	}
	// What the Run controller records when it rejects the Run (no controller runs here).
	if err := testStore.UpsertRun(h.ctx, store.RunRecord{UID: string(run.UID), Namespace: h.ns, Name: run.Name, Workflow: "wf",
		Phase: string(aiasv1alpha1.RunRejected), Trigger: string(aiasv1alpha1.TriggerWebhook), Endpoint: ep.Name, CreatedAt: run.CreationTimestamp.Time}); err != nil {
		t.Fatal(err)
	}
	code, out := h.post("push", headers, body)
	if code != http.StatusConflict || out["reason"] != "RunRejected" || !strings.Contains(fmt.Sprint(out["error"]), run.Name) {
		t.Errorf("redelivery of a rejected run: %d %v, want 409 RunRejected naming the run", code, out)
	}
}

// The ledger remembers a delivery for the endpoint's replay window and no longer: past
// it, the same GitHub body starts a new Run. For timestamped schemes the window is at
// least twice the tolerance, so a delivery cannot be replayed while its timestamp still
// verifies.
func TestHookReplayWindow(t *testing.T) {
	h := newHookEnv(t)
	var offset atomic.Int64
	h.hooks.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	ep := h.endpoint("github", aiasv1alpha1.Verification{Scheme: aiasv1alpha1.SchemeGitHub}, func(ep *aiasv1alpha1.WebhookEndpoint) {
		ep.Spec.ReplayWindow = &metav1.Duration{Duration: time.Hour}
	}, map[string]string{"secret": "gh-secret"})
	if ep.Spec.ReplayWindow.Duration != time.Hour {
		t.Fatalf("replayWindow %v", ep.Spec.ReplayWindow)
	}
	gh := signature.Config{Scheme: signature.GitHub}
	body := []byte(`{"ping":true}`)
	if code, _ := h.post("github", sign(t, gh, "gh-secret", "w-1", body, time.Now()), body); code != http.StatusAccepted {
		t.Fatalf("first: %d", code)
	}
	offset.Store(int64(59 * time.Minute))
	if code, out := h.post("github", sign(t, gh, "gh-secret", "w-2", body, time.Now()), body); code != http.StatusOK {
		t.Errorf("within the window: %d %v", code, out)
	}
	offset.Store(int64(61 * time.Minute))
	if code, out := h.post("github", sign(t, gh, "gh-secret", "w-3", body, time.Now()), body); code != http.StatusAccepted || out["run"] != hooks.RunName(ep, "w-3") {
		t.Errorf("past the window: %d %v, want a new run", code, out)
	}
	if n := len(h.runs()); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}

	// The default is 72h; a timestamped scheme's floor is twice its tolerance.
	def := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: h.ns},
		Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}}}
	if err := testEnv.Client.Create(h.ctx, def); err != nil {
		t.Fatal(err)
	}
	if def.Spec.ReplayWindow == nil || def.Spec.ReplayWindow.Duration != 72*time.Hour || signature.ReplayWindowFor(def.Spec) != 72*time.Hour {
		t.Errorf("default replay window %v", def.Spec.ReplayWindow)
	}
	def.Spec.ReplayWindow = &metav1.Duration{Duration: time.Minute}
	def.Spec.Verification.Tolerance = &metav1.Duration{Duration: 10 * time.Minute}
	if got := signature.ReplayWindowFor(def.Spec); got != 20*time.Minute {
		t.Errorf("window of a 1m replayWindow with a 10m tolerance: %v, want 20m", got)
	}
	def.Spec.ReplayWindow = &metav1.Duration{Duration: 721 * time.Hour}
	if err := testEnv.Client.Update(h.ctx, def); err == nil || !strings.Contains(err.Error(), "spec.replayWindow") {
		t.Errorf("a 721h replay window was not refused naming the field: %v", err)
	}
}

// A long Content-Type on a delivery (which would make the Run invalid) is refused with
// 400 at once, not answered 503 forever; so is any Run the apiserver finds invalid.
func TestHookLongContentTypeIsRefused(t *testing.T) {
	h := newHookEnv(t)
	h.endpoint("push", aiasv1alpha1.Verification{}, nil, map[string]string{"secret": testSecret})
	big := []byte(strings.Repeat("x", aiasv1alpha1.MaxInlineInputLength+1))
	headers := sign(t, std, testSecret, "msg_ct", big, time.Now())
	headers.Set("Content-Type", "application/"+strings.Repeat("x", 300))
	if code, out := h.post("push", headers, big); code != http.StatusBadRequest || out["reason"] != "ContentTypeTooLong" {
		t.Errorf("long content type: %d %v, want 400 ContentTypeTooLong", code, out)
	}
	headers = sign(t, std, testSecret, "msg_ct2", big, time.Now())
	headers.Set("Content-Type", "text/plain; charset=\"\xff\xfe\"")
	if code, out := h.post("push", headers, big); code != http.StatusBadRequest || out["reason"] != "BadContentType" {
		t.Errorf("a Content-Type with bytes past ASCII: %d %v, want 400 BadContentType", code, out)
	}
	if n := len(h.runs()); n != 0 {
		t.Errorf("%d runs", n)
	}
}
