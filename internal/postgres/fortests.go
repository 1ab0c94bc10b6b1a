package postgres

import (
	"context"
	"fmt"
	"os"
)

// ForTests gives a test package its own database on the server Acquire finds or starts,
// and a cleanup that drops the database and stops a server it started. Call it from
// TestMain so the package leaves nothing behind.
func ForTests(ctx context.Context, prefix string) (url string, cleanup func(), err error) {
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	srv, err := Acquire(ctx, logf)
	if err != nil {
		return "", nil, err
	}
	url, drop, err := srv.CreateDatabase(ctx, prefix)
	if err != nil {
		_ = srv.Release()
		return "", nil, err
	}
	return url, func() {
		if err := drop(context.Background()); err != nil {
			logf("postgres: dropping test database: %v", err)
		}
		if err := srv.Release(); err != nil {
			logf("postgres: stopping server: %v", err)
		}
	}, nil
}
