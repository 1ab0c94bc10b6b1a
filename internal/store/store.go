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

// Open connects to the database at url and applies pending migrations. Several replicas
// may call it at once: tern serializes the migration under a PostgreSQL advisory lock.
func Open(ctx context.Context, url string) (*Store, error) {
	pool, err := pgxpool.New(ctx, url)
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

// Pool exposes the connection pool for benchmarks that compare against raw pgx.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }
