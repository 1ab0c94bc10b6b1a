package webhookserver

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// The metrics listener is no longer open to anyone who reaches it (a step pod, another
// tenant's pod): by default (--metrics-secure) it speaks TLS and answers a request without
// a Kubernetes token 401 Unauthorized, before asking the apiserver anything. On main it
// served every caller over plain HTTP (200). Tokens that are unknown, not allowed or
// allowed are tested in internal/metricsauth, on a control plane.
func TestMetricsNeedAToken(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := ParseFlags([]string{"--public-bind-address=0", "--user-bind-address=0", "--internal-bind-address=0", "--metrics-bind-address=127.0.0.1:0",
		"--step-token-key-file=" + keyFile, "--database-url=" + testStore.Pool().Config().ConnString()})
	if err != nil {
		t.Fatal(err)
	}
	// Never reached: a request without a token is refused before any review.
	o.RestConfig = &rest.Config{Host: "https://127.0.0.1:1"}
	ctx, cancel := context.WithCancel(context.Background())
	addrs, wait, err := Start(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	defer func() { cancel(); _ = wait() }()

	if resp, err := http.Get("http://" + addrs.Metrics + "/metrics"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("metrics served over plain HTTP")
		}
	}
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // its certificate is self-signed
	for _, auth := range []string{"", "Basic dXNlcjpwYXNz", "Bearer "} {
		req, _ := http.NewRequest(http.MethodGet, "https://"+addrs.Metrics+"/metrics", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var out map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || out["reason"] != "Unauthorized" || resp.Header.Get("WWW-Authenticate") == "" {
			t.Errorf("Authorization %q: %d %v, want 401 Unauthorized with WWW-Authenticate", auth, resp.StatusCode, out)
		}
	}
}
