package webhookserver

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/store"
)

var testStore *store.Store

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	url, cleanup, err := postgres.ForTests(ctx, "aias_webhookserver_test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	if testStore, err = store.Open(ctx, url); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testStore.Close()
	return m.Run()
}
