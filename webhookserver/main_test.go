package webhookserver

import (
	"testing"

	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
)

// The package's tests share one database; none needs a control plane (each listener's
// own tests, in its package, do).
var testStore *store.Store

func TestMain(m *testing.M) { fixtures.Main(m, "aias_webhookserver_test", nil, &testStore) }
