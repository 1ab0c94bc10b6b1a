package manager

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/testenv"
)

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// The real manager against a real apiserver: probes answer, and the metrics endpoint is
// HTTPS and refuses callers without a Kubernetes token.
func TestManagerServesProbesAndSecuredMetrics(t *testing.T) {
	env, err := testenv.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = env.Stop() }()
	dbURL, dropDB, err := postgres.ForTests(context.Background(), "aias_manager_test")
	if err != nil {
		t.Fatal(err)
	}
	defer dropDB()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("m"), 32), 0o600); err != nil {
		t.Fatal(err)
	}

	opts, err := ParseFlags([]string{
		"--database-url=" + dbURL, "--step-token-key-file=" + keyFile,
		"--metrics-bind-address=" + freeAddr(t),
		"--health-probe-bind-address=" + freeAddr(t),
		"--leader-elect", "--leader-election-namespace=default",
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, env.Config, opts) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("manager stopped with %v", err)
		}
	}()

	for _, path := range []string{"/healthz", "/readyz"} {
		waitForStatus(t, &http.Client{}, "http://"+opts.ProbeAddr+path, http.StatusOK)
	}
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	waitForStatus(t, insecure, "https://"+opts.MetricsAddr+"/metrics", http.StatusUnauthorized)
}

func waitForStatus(t *testing.T, c *http.Client, url string, want int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		resp, err := c.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return
			}
			last = fmt.Sprintf("status %d", resp.StatusCode)
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: want %d, last saw %s", url, want, last)
}
