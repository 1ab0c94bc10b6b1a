package webhookserver

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/storetest"
)

var testStore *store.Store

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var cleanup func()
	var err error
	if testStore, cleanup, err = storetest.Open(ctx, "aias_webhookserver_test"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	return m.Run()
}
