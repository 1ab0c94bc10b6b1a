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
	"sync"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/testrig/testenv"
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
	env, dbURL, keyFile := managerEnv(t)

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

// managerEnv starts one control plane and database for the package's manager tests (on
// first use; TestMain stops them) and writes a step-token key for the test.
func managerEnv(t *testing.T) (env *testenv.Env, dbURL, keyFile string) {
	t.Helper()
	shared.once.Do(func() {
		if shared.env, shared.err = testenv.Start(); shared.err != nil {
			return
		}
		shared.dbURL, shared.dropDB, shared.err = postgres.ForTests(context.Background(), "aias_manager_test")
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	keyFile = filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("m"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	return shared.env, shared.dbURL, keyFile
}

var shared struct {
	once   sync.Once
	env    *testenv.Env
	dbURL  string
	dropDB func()
	err    error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dropDB != nil {
		shared.dropDB()
	}
	if shared.env != nil {
		_ = shared.env.Stop()
	}
	os.Exit(code)
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
