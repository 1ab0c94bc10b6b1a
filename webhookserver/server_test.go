package webhookserver

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
)

func TestServeInternalListener(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFlags([]string{"--database-url="}); err == nil {
		t.Error("missing database URL accepted")
	}
	o, err := ParseFlags([]string{"--public-bind-address=0", "--user-bind-address=0", "--metrics-bind-address=127.0.0.1:0", "--metrics-secure=false", "--internal-bind-address=127.0.0.1:0", "--step-token-key-file=" + keyFile, "--database-url=" + testStore.Pool().Config().ConnString()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, o, func(a Addrs) { addr <- a }) }()
	var addrs Addrs
	select {
	case addrs = <-addr:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	if addrs.Public != "" {
		t.Errorf("public listener on %s although disabled", addrs.Public)
	}
	metrics, err := http.Get("http://" + addrs.Metrics + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics.Body.Close()
	if metrics.StatusCode != http.StatusOK {
		t.Errorf("metrics status %d", metrics.StatusCode)
	}
	resp, err := http.Post("http://"+addrs.Internal+stepjob.AttemptPath("acme", "r", "s", 1)+stepjob.PathLogs, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Serve returned %v", err)
	}
}
