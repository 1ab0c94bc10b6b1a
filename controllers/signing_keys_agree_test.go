package controllers

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/signature"
	"github.com/aias-dev/aias/webhookserver"
)

// The WebhookEndpoint controller and the hook listener judge a Secret's signing keys by
// the same rules: the keys the controller calls usable in its Ready condition are exactly
// those whose deliveries the listener accepts, and an endpoint it calls not Ready accepts
// nothing. Each case is a Secret that once made the two disagree.
func TestSigningKeyRulesAgree(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	h.createWorkflow("build")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	_ = os.WriteFile(keyFile, bytes.Repeat([]byte("a"), 32), 0o600)
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	addrs, _, err := webhookserver.Start(ctx, webhookserver.Options{PublicAddr: "127.0.0.1:0", InternalAddr: "0", MetricsAddr: "0", UserAddr: "0",
		DatabaseURL: testStore.Pool().Config().ConnString(), StepTokenKeyFile: keyFile, RestConfig: testEnv.Config})
	if err != nil {
		t.Fatal(err)
	}

	good, other := validWhsec("agree-a"), validWhsec("agree-b")
	for _, tc := range []struct {
		name   string
		scheme aiasv1alpha1.VerificationScheme
		data   map[string]string
	}{
		{"empty extra key", "", map[string]string{"secret": good, "secret-1": ""}},
		{"only an empty key", aiasv1alpha1.SchemeGitHub, map[string]string{"secret": ""}},
		{"no whsec prefix", "", map[string]string{"secret": strings.TrimPrefix(good, "whsec_")}},
		{"neither prefix nor base64", "", map[string]string{"secret": "hunter2"}},
		{"key number beyond the range", "", map[string]string{"secret-1000000000": good}},
		{"beyond the range beside a good key", "", map[string]string{"secret": good, "secret-1000000000": other}},
		{"token not header-safe", aiasv1alpha1.SchemeToken, map[string]string{"secret": "tok\x01en"}},
		{"token with a trailing space beside a good one", aiasv1alpha1.SchemeToken, map[string]string{"secret": "fine-token", "secret-2": "spaced "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ReplaceAll(tc.name, " ", "-")
			h.createSecret(name, tc.data)
			h.createEndpoint(name, "build", name, tc.scheme)
			cond := waitSettled(t, h, name)
			usable := usableKeyNames(cond)
			ep := h.getEndpoint(name)
			cfg := signature.ConfigFor(ep.Spec.Verification)
			accepted := 0
			for keyName, value := range tc.data {
				headers, err := signature.Sign(cfg, signature.Key{Name: keyName, Value: []byte(value)}, "d-"+keyName, []byte(`{"n":1}`), time.Now())
				if err != nil {
					// No sender can sign with it; the controller must not offer it either.
					if usable[keyName] {
						t.Errorf("the controller calls key %s usable, but nothing can sign with it: %v", keyName, err)
					}
					continue
				}
				code := deliver(t, "http://"+addrs.Public+ep.HookURL(""), headers)
				if ok := code == http.StatusAccepted || code == http.StatusOK; ok != usable[keyName] {
					t.Errorf("key %s: the listener answered %d, the controller's Ready condition says usable=%v (%s)", keyName, code, usable[keyName], cond.Message)
				} else if ok {
					accepted++
				}
			}
			if ready := cond.Status == metav1.ConditionTrue; ready != (accepted > 0) {
				t.Errorf("Ready=%s but %d key(s) verified: %s", cond.Status, accepted, cond.Message)
			}
		})
	}
}

// waitSettled waits for the endpoint's Ready condition of its current generation, with
// the hook listener's cache holding the endpoint too.
func waitSettled(t *testing.T, h *epHarness, name string) *metav1.Condition {
	t.Helper()
	var cond *metav1.Condition
	wfEventually(t, "a Ready condition for "+name, func() (bool, string) {
		ep := h.getEndpoint(name)
		cond = meta.FindStatusCondition(ep.Status.Conditions, aiasv1alpha1.ConditionReady)
		return cond != nil && cond.ObservedGeneration == ep.Generation && ep.Status.SecretRef != nil, fmt.Sprintf("%+v", cond)
	})
	time.Sleep(300 * time.Millisecond) // the listener's informer has the endpoint
	return cond
}

// usableKeyNames reads the key names a Ready=True condition lists as signing keys.
func usableKeyNames(cond *metav1.Condition) map[string]bool {
	out := map[string]bool{}
	if cond.Status != metav1.ConditionTrue {
		return out
	}
	_, list, ok := strings.Cut(cond.Message, "signing keys in Secret ")
	if !ok {
		return out
	}
	_, list, _ = strings.Cut(list, ": ")
	list, _, _ = strings.Cut(list, "; ")
	for _, q := range strings.Split(list, ", ") {
		out[strings.Trim(q, `"`)] = true
	}
	return out
}

func deliver(t *testing.T, url string, headers http.Header) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"n":1}`))
	for k, v := range headers {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
