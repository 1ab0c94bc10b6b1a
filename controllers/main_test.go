package controllers

import (
	"os"
	"testing"

	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
)

// The package shares one control plane and one database; each test works in its own
// namespace and starts its own manager with the reconcilers it needs.
var (
	testEnv   *testenv.Env
	testStore *store.Store
)

func TestMain(m *testing.M) {
	code := fixtures.Run(m, "aias_controllers_test", &testEnv, &testStore)
	if builtBinDir != "" {
		os.RemoveAll(builtBinDir)
	}
	os.Exit(code)
}
