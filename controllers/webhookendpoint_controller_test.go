package controllers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/signature"
)

// epHarness is one test's namespace and manager running the WebhookEndpoint controller.
type epHarness struct {
	t   *testing.T
	ctx context.Context
	ns  string
	mgr manager.Manager
	r   *WebhookEndpointReconciler
	c   client.Client // uncached, straight to the API server
}

// startWebhookEndpointController creates a namespace and starts a manager, its cache
// restricted to that namespace and its client never caching Secrets (as in production),
// with the indexes and the WebhookEndpoint controller; configure adjusts the reconciler.
// Everything stops when the test ends.
func startWebhookEndpointController(t *testing.T, configure func(*WebhookEndpointReconciler)) *epHarness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &epHarness{t: t, ctx: ctx, c: testEnv.Client}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "ep-test-"}}
	if err := h.c.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	h.ns = ns.Name

	h.r = &WebhookEndpointReconciler{}
	if configure != nil {
		configure(h.r)
	}
	h.mgr, _ = startTestManager(t, func(o *ctrl.Options) {
		o.Client = client.Options{Cache: &client.CacheOptions{DisableFor: []client.Object{&corev1.Secret{}}}}
		o.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{h.ns: {}}}
	}, func(ctx context.Context, mgr manager.Manager) error {
		if err := SetupIndexes(ctx, mgr); err != nil {
			return err
		}
		return h.r.SetupWithManager(mgr)
	})
	t.Cleanup(func() { cancel(); _ = h.c.Delete(context.Background(), ns) }) // the delete never finishes under envtest; harmless
	return h
}

func (h *epHarness) createWorkflow(name string) {
	h.t.Helper()
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{testStep("a")}}}
	if err := h.c.Create(h.ctx, wf); err != nil {
		h.t.Fatalf("creating Workflow %s: %v", name, err)
	}
}

// createEndpoint creates an endpoint of the workflow; secretRef may be empty.
func (h *epHarness) createEndpoint(name, workflow, secretRef string, scheme aiasv1alpha1.VerificationScheme) {
	h.t.Helper()
	ep := &aiasv1alpha1.WebhookEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec: aiasv1alpha1.WebhookEndpointSpec{
			WorkflowRef:  aiasv1alpha1.WorkflowReference{Name: workflow},
			Verification: aiasv1alpha1.Verification{Scheme: scheme},
		},
	}
	if secretRef != "" {
		ep.Spec.Verification.SecretRef = &aiasv1alpha1.SecretReference{Name: secretRef}
	}
	if err := h.c.Create(h.ctx, ep); err != nil {
		h.t.Fatalf("creating WebhookEndpoint %s: %v", name, err)
	}
}

func (h *epHarness) getEndpoint(name string) *aiasv1alpha1.WebhookEndpoint {
	h.t.Helper()
	ep := &aiasv1alpha1.WebhookEndpoint{}
	if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, ep); err != nil {
		h.t.Fatalf("getting WebhookEndpoint %s: %v", name, err)
	}
	return ep
}

// waitReady waits for the endpoint's Ready condition with the given status and reason,
// for the current generation, whose message contains every string in parts.
func (h *epHarness) waitReady(name string, status metav1.ConditionStatus, reason string, parts ...string) *metav1.Condition {
	h.t.Helper()
	var cond *metav1.Condition
	wfEventually(h.t, fmt.Sprintf("WebhookEndpoint %s Ready=%s (%s) mentioning %q", name, status, reason, parts), func() (bool, string) {
		ep := h.getEndpoint(name)
		cond = meta.FindStatusCondition(ep.Status.Conditions, aiasv1alpha1.ConditionReady)
		if cond == nil {
			return false, "no Ready condition"
		}
		ok := cond.Status == status && cond.Reason == reason && cond.ObservedGeneration == ep.Generation && containsAll(cond.Message, parts...)
		return ok, fmt.Sprintf("%+v (generation %d)", *cond, ep.Generation)
	})
	return cond
}

func (h *epHarness) getSecret(name string) *corev1.Secret {
	h.t.Helper()
	s := &corev1.Secret{}
	if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, s); err != nil {
		h.t.Fatalf("getting Secret %s: %v", name, err)
	}
	return s
}

// waitSecret waits for the Secret to exist and returns it.
func (h *epHarness) waitSecret(name string) *corev1.Secret {
	h.t.Helper()
	s := &corev1.Secret{}
	wfEventually(h.t, "Secret "+name, func() (bool, string) {
		err := h.c.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, s)
		return err == nil, fmt.Sprintf("get: %v", err)
	})
	return s
}

func (h *epHarness) createSecret(name string, data map[string]string) *corev1.Secret {
	h.t.Helper()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	if err := h.c.Create(h.ctx, s); err != nil {
		h.t.Fatalf("creating Secret %s: %v", name, err)
	}
	return s
}

// updateSecret changes a Secret's data as its owner (a person, a rotation script) would.
func (h *epHarness) updateSecret(name string, mutate func(map[string][]byte)) {
	h.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s := &corev1.Secret{}
		if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, s); err != nil {
			return err
		}
		if s.Data == nil {
			s.Data = map[string][]byte{}
		}
		mutate(s.Data)
		return h.c.Update(h.ctx, s)
	})
	if err != nil {
		h.t.Fatalf("updating Secret %s: %v", name, err)
	}
}

// reconcile runs one reconcile of the endpoint directly, next to the running controller.
// A reconcile whose status write lost a race with the controller's is redone.
func (h *epHarness) reconcile(name string) {
	h.t.Helper()
	for range 10 {
		res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: name}})
		if err != nil {
			h.t.Fatalf("reconciling WebhookEndpoint %s: %v", name, err)
		}
		if res.RequeueAfter != conflictRequeue {
			return
		}
		time.Sleep(conflictRequeue)
	}
	h.t.Fatalf("reconciling WebhookEndpoint %s: conflicts on every attempt", name)
}

// events lists the core/v1 Events about the named endpoint, with the given reason
// unless it is empty.
func (h *epHarness) events(endpoint, reason string) []corev1.Event {
	h.t.Helper()
	var list corev1.EventList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("listing Events: %v", err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "WebhookEndpoint" && e.InvolvedObject.Name == endpoint && (reason == "" || e.Reason == reason) {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for an Event about the endpoint with the given type and reason whose
// message contains every string in parts.
func (h *epHarness) waitEvent(endpoint, eventType, reason string, parts ...string) corev1.Event {
	h.t.Helper()
	var found corev1.Event
	wfEventually(h.t, fmt.Sprintf("%s event %s about WebhookEndpoint %s mentioning %q", eventType, reason, endpoint, parts), func() (bool, string) {
		evs := h.events(endpoint, reason)
		for _, e := range evs {
			if e.Type == eventType && containsAll(e.Message, parts...) {
				found = e
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events with that reason: %v", len(evs), eventMessages(evs))
	})
	return found
}

// assertNoLeak fails when any of the secret values appears in an Event of the namespace
// (in any field, in JSON) or in the endpoint's status, raw or as the base64 of the bytes
// after the whsec_ prefix (and, for a whsec_ value, as that decoded key's base64 again).
func (h *epHarness) assertNoLeak(endpoint string, values ...string) {
	h.t.Helper()
	var list corev1.EventList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("listing Events: %v", err)
	}
	evJSON, err := json.Marshal(list.Items)
	if err != nil {
		h.t.Fatal(err)
	}
	stJSON, err := json.Marshal(h.getEndpoint(endpoint).Status)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, v := range values {
		needles := []string{v, base64.StdEncoding.EncodeToString([]byte(v))}
		if rest, ok := strings.CutPrefix(v, "whsec_"); ok && len(rest) >= 8 {
			needles = append(needles, rest)
		}
		for _, n := range needles {
			if strings.Contains(string(evJSON), n) {
				h.t.Errorf("a secret value appears in the namespace's Events")
			}
			if strings.Contains(string(stJSON), n) {
				h.t.Errorf("a secret value appears in WebhookEndpoint %s's status", endpoint)
			}
		}
	}
	if len(list.Items) == 0 {
		h.t.Errorf("no Events at all: the leak check checked nothing")
	}
}

// validWhsec returns a well-formed Standard Webhooks secret.
func validWhsec(seed string) string {
	return "whsec_" + base64.StdEncoding.EncodeToString([]byte(fmt.Sprintf("%-32s", seed)))
}

func TestWebhookEndpointGeneratesSecret(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	h.createWorkflow("build")
	h.createEndpoint("github", "build", "", "")

	h.waitReady("github", metav1.ConditionTrue, aiasv1alpha1.ReasonReady, `"build"`, `"github-signing"`, `"secret"`)
	ep := h.getEndpoint("github")
	if want := "/hooks/" + h.ns + "/github"; ep.Status.URL != want {
		t.Errorf("status.url = %q, want %q", ep.Status.URL, want)
	}
	if ep.Status.SecretRef == nil || ep.Status.SecretRef.Name != "github-signing" {
		t.Errorf("status.secretRef = %+v, want github-signing", ep.Status.SecretRef)
	}
	if ep.Status.ObservedGeneration != ep.Generation {
		t.Errorf("status.observedGeneration = %d, want %d", ep.Status.ObservedGeneration, ep.Generation)
	}

	secret := h.getSecret("github-signing")
	if secret.Type != corev1.SecretTypeOpaque {
		t.Errorf("type = %q, want Opaque", secret.Type)
	}
	if secret.Labels[aiasv1alpha1.LabelManagedBy] != aiasv1alpha1.ManagedByAias || secret.Labels[aiasv1alpha1.LabelWebhookEndpoint] != "github" {
		t.Errorf("labels = %v", secret.Labels)
	}
	if !metav1.IsControlledBy(secret, ep) {
		t.Errorf("the Secret is not controlled by the endpoint: ownerReferences %+v", secret.OwnerReferences)
	}
	if len(secret.Data) != 1 {
		t.Errorf("the Secret has %d keys, want only %q", len(secret.Data), signature.SecretKey)
	}
	value := string(secret.Data[signature.SecretKey])
	rest, ok := strings.CutPrefix(value, "whsec_")
	if !ok {
		t.Fatalf("the generated value does not start with whsec_ (length %d)", len(value))
	}
	if raw, err := base64.StdEncoding.DecodeString(rest); err != nil || len(raw) != 32 {
		t.Fatalf("the generated value is not whsec_ + base64 of 32 bytes (decoded %d bytes, error %v)", len(raw), err)
	}
	h.waitEvent("github", corev1.EventTypeNormal, aiasv1alpha1.ReasonSecretGenerated, `"github-signing"`)

	// Reconciling again changes nothing: neither the Secret nor the endpoint is written.
	epRV, secretRV := h.getEndpoint("github").ResourceVersion, secret.ResourceVersion
	for range 3 {
		h.reconcile("github")
	}
	after := h.getSecret("github-signing")
	if after.ResourceVersion != secretRV || string(after.Data[signature.SecretKey]) != value {
		t.Errorf("a reconcile rewrote the signing Secret (resourceVersion %s -> %s, value changed: %v)",
			secretRV, after.ResourceVersion, string(after.Data[signature.SecretKey]) != value)
	}
	if got := h.getEndpoint("github").ResourceVersion; got != epRV {
		t.Errorf("a reconcile with nothing changed wrote the endpoint: resourceVersion %s -> %s", epRV, got)
	}
	if evs := h.events("github", aiasv1alpha1.ReasonSecretGenerated); len(evs) != 1 || eventCount(evs[0]) != 1 {
		t.Errorf("SecretGenerated events: %v, want exactly one", eventMessages(evs))
	}
	// A first Ready=True is no news.
	if evs := h.events("github", aiasv1alpha1.ReasonReady); len(evs) != 0 {
		t.Errorf("Ready events for an endpoint that was always ready: %v", eventMessages(evs))
	}
	h.assertNoLeak("github", value)
}

func TestWebhookEndpointPublicBaseURL(t *testing.T) {
	h := startWebhookEndpointController(t, func(r *WebhookEndpointReconciler) {
		r.PublicBaseURL = "https://hooks.example.com/"
	})
	h.createWorkflow("build")
	h.createEndpoint("ci", "build", "", "")
	h.waitReady("ci", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
	if got, want := h.getEndpoint("ci").Status.URL, "https://hooks.example.com/hooks/"+h.ns+"/ci"; got != want {
		t.Fatalf("status.url = %q, want %q", got, want)
	}
}

func TestWebhookEndpointWorkflowNotFound(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	h.createEndpoint("deploy", "release", "", "")

	h.waitReady("deploy", metav1.ConditionFalse, aiasv1alpha1.ReasonWorkflowNotFound, `Workflow "release"`)
	h.waitEvent("deploy", corev1.EventTypeWarning, aiasv1alpha1.ReasonWorkflowNotFound, `"release"`)
	// The Secret is generated all the same, so senders can be set up first.
	h.waitSecret("deploy-signing")
	if ep := h.getEndpoint("deploy"); ep.Status.SecretRef == nil || ep.Status.SecretRef.Name != "deploy-signing" {
		t.Errorf("status.secretRef = %+v, want deploy-signing", ep.Status.SecretRef)
	}

	h.createWorkflow("release")
	h.waitReady("deploy", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
	h.waitEvent("deploy", corev1.EventTypeNormal, aiasv1alpha1.ReasonReady)
	if evs := h.events("deploy", aiasv1alpha1.ReasonWorkflowNotFound); len(evs) != 1 || eventCount(evs[0]) != 1 {
		t.Errorf("WorkflowNotFound events: %v, want exactly one", eventMessages(evs))
	}
	h.assertNoLeak("deploy", string(h.getSecret("deploy-signing").Data[signature.SecretKey]))
}

func TestWebhookEndpointSecretRef(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	h.createWorkflow("build")
	h.createEndpoint("given", "build", "mine", "")

	cond := h.waitReady("given", metav1.ConditionFalse, aiasv1alpha1.ReasonSecretNotFound, `Secret "mine"`)
	if ep := h.getEndpoint("given"); ep.Status.SecretRef == nil || ep.Status.SecretRef.Name != "mine" {
		t.Errorf("status.secretRef = %+v, want mine", ep.Status.SecretRef)
	}
	h.waitEvent("given", corev1.EventTypeWarning, aiasv1alpha1.ReasonSecretNotFound, `"mine"`)
	// Nothing is generated when the endpoint names its Secret.
	if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "given-signing"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
		t.Errorf("get given-signing: %v, want NotFound", err)
	}

	// The controller never requeues a not-Ready endpoint: only the Secret watch can
	// bring it back, and does so at once.
	value := validWhsec("given")
	h.createSecret("mine", map[string]string{"secret": value})
	start := time.Now()
	h.waitReady("given", metav1.ConditionTrue, aiasv1alpha1.ReasonReady, `"mine"`)
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Ready %s after the Secret was created: not through the watch", took)
	}
	t.Logf("Ready %s after the Secret was created (was %s since %s)", time.Since(start).Round(time.Millisecond), cond.Reason, cond.LastTransitionTime)
	h.waitEvent("given", corev1.EventTypeNormal, aiasv1alpha1.ReasonReady)

	// A given Secret is never written.
	rv := h.getSecret("mine").ResourceVersion
	h.reconcile("given")
	wfConsistently(t, "the given Secret untouched", time.Second, func() (bool, string) {
		s := h.getSecret("mine")
		return s.ResourceVersion == rv && len(s.OwnerReferences) == 0, fmt.Sprintf("resourceVersion %s (was %s), owners %v", s.ResourceVersion, rv, s.OwnerReferences)
	})
	h.assertNoLeak("given", value)
}

func TestWebhookEndpointSecretInvalid(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	h.createWorkflow("build")

	// Only an unrelated key.
	h.createSecret("tokens", map[string]string{"token": "t0k3n-value-do-not-leak"})
	h.createEndpoint("wrong-key", "build", "tokens", "")
	cond := h.waitReady("wrong-key", metav1.ConditionFalse, aiasv1alpha1.ReasonSecretInvalid, `Secret "tokens"`, `"secret"`, `"secret-<N>"`, `"token"`)
	h.waitEvent("wrong-key", corev1.EventTypeWarning, aiasv1alpha1.ReasonSecretInvalid, `"secret-<N>"`)
	t.Logf("message: %s", cond.Message)

	// A signing key whose value is not a Standard Webhooks secret.
	bad := "hunter2-plain-password-do-not-leak"
	h.createSecret("plain", map[string]string{"secret": bad})
	h.createEndpoint("malformed", "build", "plain", "")
	cond = h.waitReady("malformed", metav1.ConditionFalse, aiasv1alpha1.ReasonSecretInvalid, `key "secret"`, `"whsec_"`)
	t.Logf("message: %s", cond.Message)

	// Another scheme takes any non-empty value.
	h.createEndpoint("github", "build", "plain", aiasv1alpha1.SchemeGitHub)
	h.waitReady("github", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)

	// Base64 trouble after the prefix is named too.
	h.createSecret("truncated", map[string]string{"secret-2": "whsec_abc!-not-base64-do-not-leak"})
	h.createEndpoint("truncated", "build", "truncated", "")
	h.waitReady("truncated", metav1.ConditionFalse, aiasv1alpha1.ReasonSecretInvalid, `key "secret-2"`, "base64")

	// Fixing the Secret fixes the endpoint, through the Secret watch.
	good := validWhsec("fixed")
	h.updateSecret("tokens", func(d map[string][]byte) { d["secret-1"] = []byte(good) })
	h.waitReady("wrong-key", metav1.ConditionTrue, aiasv1alpha1.ReasonReady, `"secret-1"`)
	h.waitEvent("wrong-key", corev1.EventTypeNormal, aiasv1alpha1.ReasonReady)

	for _, name := range []string{"wrong-key", "malformed", "github", "truncated"} {
		h.assertNoLeak(name, "t0k3n-value-do-not-leak", bad, "whsec_abc!-not-base64-do-not-leak", good)
	}
}

func TestWebhookEndpointSecretConflict(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	h.createWorkflow("build")
	foreign := validWhsec("somebody else's")
	h.createSecret("taken-signing", map[string]string{"secret": foreign, "other": "kept"})
	before := h.getSecret("taken-signing")
	h.createEndpoint("taken", "build", "", "")

	cond := h.waitReady("taken", metav1.ConditionFalse, aiasv1alpha1.ReasonSecretConflict, `Secret "taken-signing"`)
	t.Logf("message: %s", cond.Message)
	h.waitEvent("taken", corev1.EventTypeWarning, aiasv1alpha1.ReasonSecretConflict, `"taken-signing"`)
	if ref := h.getEndpoint("taken").Status.SecretRef; ref != nil {
		t.Errorf("status.secretRef = %+v for a Secret the endpoint may not use", ref)
	}
	h.reconcile("taken")
	wfConsistently(t, "the foreign Secret untouched", time.Second, func() (bool, string) {
		s := h.getSecret("taken-signing")
		ok := s.ResourceVersion == before.ResourceVersion && len(s.OwnerReferences) == 0 && len(s.Labels) == 0 &&
			string(s.Data["secret"]) == foreign && len(s.Data) == 2
		return ok, fmt.Sprintf("resourceVersion %s (was %s), owners %v, labels %v, %d keys", s.ResourceVersion, before.ResourceVersion, s.OwnerReferences, s.Labels, len(s.Data))
	})
	h.assertNoLeak("taken", foreign)

	// Once the foreign Secret is gone, the controller generates its own.
	if err := h.c.Delete(h.ctx, before); err != nil {
		t.Fatal(err)
	}
	h.waitReady("taken", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
	s := h.getSecret("taken-signing")
	if !metav1.IsControlledBy(s, h.getEndpoint("taken")) || string(s.Data["secret"]) == foreign {
		t.Fatalf("after the conflict: owners %v, value replaced %v", s.OwnerReferences, string(s.Data["secret"]) != foreign)
	}
	h.waitEvent("taken", corev1.EventTypeNormal, aiasv1alpha1.ReasonSecretGenerated, `"taken-signing"`)
}

func TestWebhookEndpointRotation(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	h.createWorkflow("build")
	h.createEndpoint("rotating", "build", "", "")
	h.waitReady("rotating", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
	old := string(h.waitSecret("rotating-signing").Data[signature.SecretKey])

	// Step 1: add the new key beside the old one.
	next := validWhsec("next")
	h.updateSecret("rotating-signing", func(d map[string][]byte) { d["secret-1"] = []byte(next) })
	h.waitReady("rotating", metav1.ConditionTrue, aiasv1alpha1.ReasonReady, `"secret-1", "secret"`)
	wfConsistently(t, "both keys kept", 2*time.Second, func() (bool, string) {
		d := h.getSecret("rotating-signing").Data
		return string(d["secret"]) == old && string(d["secret-1"]) == next, fmt.Sprintf("%d keys", len(d))
	})

	// Step 2: drop the old key once the senders use the new one.
	h.updateSecret("rotating-signing", func(d map[string][]byte) { delete(d, "secret") })
	h.waitReady("rotating", metav1.ConditionTrue, aiasv1alpha1.ReasonReady, `keys in Secret "rotating-signing": "secret-1"`)
	wfConsistently(t, "the remaining key kept and the old one not regenerated", 2*time.Second, func() (bool, string) {
		d := h.getSecret("rotating-signing").Data
		_, hasOld := d["secret"]
		return !hasOld && string(d["secret-1"]) == next, fmt.Sprintf("%d keys", len(d))
	})
	if evs := h.events("rotating", ""); len(evs) != 1 || evs[0].Reason != aiasv1alpha1.ReasonSecretGenerated {
		t.Errorf("events over a rotation: %v, want only SecretGenerated", eventMessages(evs))
	}
	h.assertNoLeak("rotating", old, next)
}

func TestWebhookEndpointSecretMetadataCacheHoldsNoContent(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	value := validWhsec("applied")
	// What `kubectl apply` leaves on a Secret: its whole content in an annotation.
	s := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "applied", Annotations: map[string]string{
			"kubectl.kubernetes.io/last-applied-configuration": fmt.Sprintf(`{"apiVersion":"v1","kind":"Secret","data":{"secret":%q}}`, value),
		}},
		Data: map[string][]byte{"secret": []byte(value)},
	}
	if err := h.c.Create(h.ctx, s); err != nil {
		t.Fatal(err)
	}
	// The cache the controller's Secret watch runs on.
	c := h.r.secrets
	ctx := h.ctx
	m := secretMetadata()
	wfEventually(t, "the Secret in the metadata cache", func() (bool, string) {
		err := c.Get(ctx, types.NamespacedName{Namespace: h.ns, Name: "applied"}, m)
		return err == nil, fmt.Sprintf("get: %v", err)
	})
	if len(m.Annotations) != 0 || len(m.ManagedFields) != 0 {
		t.Fatalf("the metadata cache keeps annotations %d / managed fields %d", len(m.Annotations), len(m.ManagedFields))
	}
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), strings.TrimPrefix(value, "whsec_")) {
		t.Fatalf("the metadata cache holds the Secret's value")
	}
}

// The controller judges keys with internal/signature's rules (the hook listener's), so
// the names it reports usable are exactly those Verify uses.
func TestWebhookEndpointSigningKeys(t *testing.T) {
	notSW := `is not a Standard Webhooks secret (standard base64, optionally after "whsec_")`
	for _, tc := range []struct {
		name   string
		scheme aiasv1alpha1.VerificationScheme
		data   map[string]string
		usable string
		bad    string
	}{
		{"generated", "", map[string]string{"secret": validWhsec("a")}, "secret", ""},
		{"rotation order", aiasv1alpha1.SchemeStandardWebhooks,
			map[string]string{"secret": validWhsec("a"), "secret-2": validWhsec("c"), "secret-10": validWhsec("d"), "secret-1": validWhsec("b")},
			"secret-10 secret-2 secret-1 secret", ""},
		{"other keys ignored", "", map[string]string{"token": validWhsec("a"), "secret-0": validWhsec("a"), "secret-01": validWhsec("a"), "secret-+1": validWhsec("a"), "secrets": validWhsec("a"), "secret-": validWhsec("a")}, "", ""},
		{"key number beyond the range", "", map[string]string{"secret-1000000000": validWhsec("a")}, "", ""},
		{"not base64", "", map[string]string{"secret": "abc"}, "", `signing key "secret" ` + notSW},
		{"base64 without the prefix", "", map[string]string{"secret": strings.TrimPrefix(validWhsec("a"), "whsec_")}, "secret", ""},
		{"not base64 after the prefix", "", map[string]string{"secret-3": "whsec_***"}, "", `signing key "secret-3" ` + notSW},
		{"prefix only", "", map[string]string{"secret": "whsec_"}, "", `signing key "secret" ` + notSW},
		{"empty", aiasv1alpha1.SchemeGitHub, map[string]string{"secret": ""}, "", `signing key "secret" is empty`},
		{"empty extra key", "", map[string]string{"secret": validWhsec("a"), "secret-1": ""}, "secret", `signing key "secret-1" is empty`},
		{"one good one bad", "", map[string]string{"secret": validWhsec("a"), "secret-1": "no!"}, "secret", `signing key "secret-1" ` + notSW},
		{"any value for HMAC", aiasv1alpha1.SchemeHMAC, map[string]string{"secret": "plain"}, "secret", ""},
		{"token not header-safe", aiasv1alpha1.SchemeToken, map[string]string{"secret": "tok\n"}, "",
			`signing key "secret" cannot be a bearer token: it has control characters or leading or trailing spaces`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{}}
			for k, v := range tc.data {
				secret.Data[k] = []byte(v)
			}
			ep := &aiasv1alpha1.WebhookEndpoint{Spec: aiasv1alpha1.WebhookEndpointSpec{Verification: aiasv1alpha1.Verification{Scheme: tc.scheme}}}
			if tc.scheme == aiasv1alpha1.SchemeHMAC {
				ep.Spec.Verification.HMAC = &aiasv1alpha1.HMACVerification{Header: "X-Sig"}
			}
			sc := checkSecret(ep, secret)
			if got := strings.Join(sc.usable, " "); got != tc.usable {
				t.Errorf("usable %q, want %q", got, tc.usable)
			}
			if got := strings.Join(sc.malformed, "; "); got != tc.bad {
				t.Errorf("malformed %q, want %q", got, tc.bad)
			}
			if (sc.problem == nil) != (tc.usable != "") {
				t.Errorf("problem %v with usable keys %q", sc.problem, tc.usable)
			}
		})
	}
}
