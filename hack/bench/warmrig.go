package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// warmRig is a section's own control plane (audited), the real manager and instant node
// agents on it, warmed up as the engine section does (caches synced, store connections
// open) with one phase in namespace <prefix>-warmup. stop ends all of it.
type warmRig struct {
	cl    *cluster
	rig   *engineRig
	audit *auditLog
	stop  func()
}

func startWarmRig(ctx context.Context, st *store.Store, prefix string) (w *warmRig, err error) {
	var undo []func()
	stop := func() {
		for i := len(undo) - 1; i >= 0; i-- {
			undo[i]()
		}
	}
	defer func() {
		if err != nil {
			stop()
		}
	}()
	tmp, err := os.MkdirTemp("", "aias-"+prefix+"-")
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = os.RemoveAll(tmp) })
	keyFile := filepath.Join(tmp, "step-token.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return nil, err
	}
	audit := &auditLog{path: filepath.Join(tmp, "audit.log")}
	env, err := testenv.StartWith(testenv.Options{AuditLog: audit.path})
	if err != nil {
		return nil, err
	}
	undo = append(undo, func() { _ = env.Stop() })
	cl, err := newCluster(env)
	if err != nil {
		return nil, err
	}
	rig, err := cl.startEngine(ctx, st.Pool().Config().ConnString(), keyFile)
	if err != nil {
		return nil, err
	}
	undo = append(undo, rig.stop)
	if _, err := cl.phase(ctx, rig.exited, audit, prefix+"-warmup", 1, 16); err != nil {
		return nil, fmt.Errorf("warm-up: %w", err)
	}
	return &warmRig{cl: cl, rig: rig, audit: audit, stop: stop}, nil
}
