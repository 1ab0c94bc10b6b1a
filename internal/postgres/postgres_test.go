package postgres

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// The fallback path on a machine without a running server: initdb, start as a non-root
// user on a free port, serve a database, drop it, stop and leave no directory behind.
func TestEphemeralServerLifecycle(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	e, err := StartEphemeral(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			_ = e.Stop()
		}
	}()
	srv := &Server{AdminURL: e.URL(), ephemeral: e}
	exerciseDatabase(ctx, t, srv)

	if err := srv.Release(); err != nil {
		t.Fatal(err)
	}
	stopped = true
	if reachable(fmt.Sprintf("127.0.0.1:%d", e.Port)) {
		t.Error("server still accepts connections after Release")
	}
}

// Acquire's choice (AIAS_DATABASE_URL, the local server or an ephemeral one) yields
// isolated databases that are really dropped.
func TestAcquireCreatesAndDropsDatabases(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	srv, err := Acquire(ctx, t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = srv.Release() }()
	exerciseDatabase(ctx, t, srv)
}

func exerciseDatabase(ctx context.Context, t *testing.T, srv *Server) {
	t.Helper()
	dbURL, drop, err := srv.CreateDatabase(ctx, "aias-test/postgres")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	var name string
	if err := conn.QueryRow(ctx, "select current_database()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "create table t (x int)"); err != nil {
		t.Fatal(err)
	}
	// Left open on purpose: drop must still succeed (WITH FORCE).
	if err := drop(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := pgx.Connect(ctx, srv.AdminURL)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	var n int
	if err := admin.QueryRow(ctx, "select count(*) from pg_database where datname = $1", name).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("database %s still exists after drop", name)
	}
}
