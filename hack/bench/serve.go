package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"

	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/webhookserver"
)

// serveWebhookServer runs `aias webhookserver` in process against the bench's control
// plane and database, with a throwaway step-token key; o names the listeners to open
// (the others stay closed). stop shuts it down and removes the key.
func serveWebhookServer(ctx context.Context, env *testenv.Env, st *store.Store, o webhookserver.Options) (webhookserver.Addrs, func(), error) {
	dir, err := os.MkdirTemp("", "aias-bench-server-")
	if err != nil {
		return webhookserver.Addrs{}, nil, err
	}
	o.StepTokenKeyFile = filepath.Join(dir, "key")
	if err := os.WriteFile(o.StepTokenKeyFile, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		_ = os.RemoveAll(dir)
		return webhookserver.Addrs{}, nil, err
	}
	o.DatabaseURL, o.RestConfig = st.Pool().Config().ConnString(), env.Config
	for _, addr := range []*string{&o.PublicAddr, &o.UserAddr, &o.InternalAddr, &o.MetricsAddr} {
		if *addr == "" {
			*addr = "0"
		}
	}
	serveCtx, cancel := context.WithCancel(ctx)
	addrs, wait, err := webhookserver.Start(serveCtx, o)
	if err != nil {
		cancel()
		_ = os.RemoveAll(dir)
		return addrs, nil, err
	}
	return addrs, func() { cancel(); _ = wait(); _ = os.RemoveAll(dir) }, nil
}
