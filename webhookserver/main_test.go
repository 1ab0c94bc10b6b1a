package webhookserver

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/storetest"
	"github.com/aias-dev/aias/internal/testenv"
)

// The package shares one control plane (the hook listener reads endpoints and Secrets
// and creates Runs) and one database.
var (
	testEnv   *testenv.Env
	testStore *store.Store
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	if testEnv, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = testEnv.Stop() }()
	var cleanup func()
	if testStore, cleanup, err = storetest.Open(ctx, "aias_webhookserver_test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	return m.Run()
}
