// Package store keeps AIAS state that must not live in etcd — artifacts, run logs, the
// run index and large inputs — in PostgreSQL through pgx.
package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// versionTable records the applied migration version.
const versionTable = "aias_schema_version"

// Store is the PostgreSQL-backed state of AIAS.
type Store struct {
	pool  *pgxpool.Pool
	small *smallCommitter
	// The delivery ledger's insert (ledger_commit.go), and what follows a delivery's
	// answer: its mark and its log row (delivery_notes.go).
	ledger *ledgerCommitter
	notes  *notesCommitter
}

// Option tunes Open.
type Option func(*pgxpool.Config)

// MaxConns sets the most connections the pool opens (the flag --database-max-conns). 0
// keeps the URL's pool_max_conns, else pgxpool's default (the greater of 4 and the
// number of CPUs). Requests wait for a free connection past it, so it bounds what this
// process can take of the server's max_connections.
func MaxConns(n int32) Option {
	return func(c *pgxpool.Config) {
		if n > 0 {
			c.MaxConns = n
		}
	}
}

// Open connects to the database at url and applies pending migrations. Several replicas
// may call it at once: tern serializes the migration under a PostgreSQL advisory lock.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("parsing the PostgreSQL URL: %w", err)
	}
	for _, o := range opts {
		o(cfg)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	if err := Migrate(ctx, pool); err != nil {
		pool.Close()
		return nil, err
	}
	s := &Store{pool: pool}
	s.small = newSmallCommitter(s)
	s.ledger, s.notes = newLedgerCommitter(s), newNotesCommitter(s)
	return s, nil
}

// Migrate applies the embedded migrations.
func Migrate(ctx context.Context, pool *pgxpool.Pool) error {
	conn, err := pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Release()
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		return fmt.Errorf("preparing migrations: %w", err)
	}
	sub, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	if err := m.LoadMigrations(sub); err != nil {
		return fmt.Errorf("loading migrations: %w", err)
	}
	if err := m.Migrate(ctx); err != nil {
		return fmt.Errorf("applying migrations: %w", err)
	}
	return nil
}

// Close releases the connections.
func (s *Store) Close() { s.pool.Close() }

// Pool exposes the connection pool for benchmarks that compare against raw pgx, and for
// tests that watch what it holds.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
