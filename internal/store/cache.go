package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// CacheEntry is the attempt a step cache key names.
type CacheEntry struct {
	Namespace, Key  string
	RunUID, RunName string
	Step            string
	Attempt         int
	OutputDigest    string
	FinishedAt      time.Time
}

// RecordCache makes e the attempt its key names (a later Succeeded attempt replaces an
// earlier one). A deleted Run records nothing (ErrRunGone).
func (s *Store) RecordCache(ctx context.Context, e CacheEntry) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guardRun(ctx, tx, e.RunUID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			insert into step_cache (namespace, key, run_uid, run_name, step, attempt, output_digest, finished_at)
			values ($1, $2, $3, $4, $5, $6, $7, $8)
			on conflict (namespace, key) do update set run_uid = excluded.run_uid, run_name = excluded.run_name,
			  step = excluded.step, attempt = excluded.attempt, output_digest = excluded.output_digest, finished_at = excluded.finished_at
			where step_cache.finished_at <= excluded.finished_at`,
			e.Namespace, e.Key, e.RunUID, e.RunName, e.Step, e.Attempt, e.OutputDigest, e.FinishedAt)
		return err
	})
}

// LookupCache is the entry of key in namespace that finished at or after notBefore;
// ErrNotFound when there is none.
func (s *Store) LookupCache(ctx context.Context, namespace, key string, notBefore time.Time) (CacheEntry, error) {
	e := CacheEntry{Namespace: namespace, Key: key}
	err := s.pool.QueryRow(ctx, `
		select run_uid::text, run_name, step, attempt, output_digest, finished_at from step_cache
		where namespace = $1 and key = $2 and finished_at >= $3`, namespace, key, notBefore).
		Scan(&e.RunUID, &e.RunName, &e.Step, &e.Attempt, &e.OutputDigest, &e.FinishedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// CacheTarget is the step that takes a cached attempt's outputs: its attempt 1.
type CacheTarget struct {
	Namespace, RunUID, RunName, Step string
}

// TakeCached copies the artifact rows (the blobs are shared by digest), log lines and
// outcome of the cached attempt e to attempt 1 of t, in one transaction; the copied log
// bytes count against t's Run like its own. Doing it again copies nothing twice. A
// deleted source (its Run gone meanwhile) is ErrNotFound; a deleted target ErrRunGone.
//
// An entry without a Key (a resumed Run's step taking the original's attempt) is taken
// unless the source Run was deleted.
func (s *Store) TakeCached(ctx context.Context, t CacheTarget, e CacheEntry) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guardRun(ctx, tx, t.RunUID); err != nil {
			return err
		}
		var present bool
		var err error
		if e.Key == "" {
			err = tx.QueryRow(ctx, `select not exists (select 1 from deleted_runs where uid = $1)`, e.RunUID).Scan(&present)
		} else {
			err = tx.QueryRow(ctx, `select exists (select 1 from step_cache where namespace = $1 and key = $2 and run_uid = $3)`,
				e.Namespace, e.Key, e.RunUID).Scan(&present)
		}
		if err != nil {
			return err
		}
		if !present {
			return ErrNotFound
		}
		if _, err := tx.Exec(ctx, `
			insert into artifacts (namespace, run_uid, run_name, step, attempt, name, digest, content_type, size)
			select $1, $2, $3, $4, 1, name, digest, content_type, size from artifacts
			where run_uid = $5 and step = $6 and attempt = $7
			on conflict (run_uid, step, attempt, name) do nothing`,
			t.Namespace, t.RunUID, t.RunName, t.Step, e.RunUID, e.Step, e.Attempt); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			insert into run_logs (namespace, run_uid, step, attempt, stream, seq, ts, line, raw)
			select $1, $2, $3, 1, stream, seq, ts, line, raw from run_logs
			where run_uid = $4 and step = $5 and attempt = $6
			on conflict do nothing`,
			t.Namespace, t.RunUID, t.Step, e.RunUID, e.Step, e.Attempt)
		if err != nil {
			return err
		}
		if tag.RowsAffected() > 0 {
			if _, err := tx.Exec(ctx, `
				update run_limits set log_bytes_used = log_bytes_used + coalesce((
				  select sum(octet_length(line)) from run_logs where run_uid = $1 and step = $2 and attempt = 1), 0)
				where run_uid = $1`, t.RunUID, t.Step); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `
			insert into step_outcomes (run_uid, step, attempt, exit_code, message)
			select $1, $2, 1, exit_code, message from step_outcomes where run_uid = $3 and step = $4 and attempt = $5
			on conflict do nothing`, t.RunUID, t.Step, e.RunUID, e.Step, e.Attempt)
		return err
	})
}
