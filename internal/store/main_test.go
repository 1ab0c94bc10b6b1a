package store

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/postgres"
)

// One database for the package, dropped at the end; tests use distinct run UIDs.
var (
	testStore *Store
	pgServer  *postgres.Server
)

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	pgServer, err = postgres.Acquire(ctx, func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) })
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = pgServer.Release() }()
	url, drop, err := pgServer.CreateDatabase(ctx, "aias_store_test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = drop(context.Background()) }()
	if testStore, err = Open(ctx, url); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer testStore.Close()
	return m.Run()
}
