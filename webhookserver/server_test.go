package webhookserver

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestServeInternalListener(t *testing.T) {
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseFlags([]string{"--database-url="}); err == nil {
		t.Error("missing database URL accepted")
	}
	o, err := ParseFlags([]string{"--internal-bind-address=127.0.0.1:0", "--step-token-key-file=" + keyFile, "--database-url=" + testStore.Pool().Config().ConnString()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, o, func(a string) { addr <- a }) }()
	var base string
	select {
	case base = <-addr:
	case err := <-done:
		t.Fatal(err)
	case <-time.After(30 * time.Second):
		t.Fatal("server did not start")
	}
	resp, err := http.Post("http://"+base+"/internal/v1/namespaces/acme/runs/r/steps/s/attempts/1/logs", "application/json", nil)
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
