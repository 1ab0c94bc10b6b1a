package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// DeleteRun removes everything the store holds for a Run — artifacts, logs, its index
// row, its concurrency slot and step outcomes — and the blobs no other Run references, in one transaction. The Run finalizer
// calls it; calling it again is harmless.
func (s *Store) DeleteRun(ctx context.Context, runUID string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// The tombstone goes first, under the run's advisory lock held exclusively:
		// step API writes hold it shared while they insert (guardRuns), so this waits for
		// those in flight, and later ones see the tombstone and are refused. The deletes
		// below then see every row that was written — none can arrive after the
		// finalizer ran.
		if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtextextended(lower($1), $2))`, runUID, runLockSeed); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `insert into deleted_runs (uid) values ($1) on conflict do nothing`, runUID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from run_index where uid = $1`, runUID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `delete from artifacts where run_uid = $1 returning digest`, runUID)
		if err != nil {
			return err
		}
		digests, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from run_logs where run_uid = $1`, runUID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from run_slots where run_uid = $1`, runUID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from step_outcomes where run_uid = $1`, runUID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from run_limits where run_uid = $1`, runUID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from approvals where run_uid = $1`, runUID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from step_cache where run_uid = $1`, runUID); err != nil {
			return err
		}
		if len(digests) == 0 {
			return nil
		}
		// Lock the candidate blobs first so a concurrent upload that dedups onto one of
		// them either commits its artifact row before we look, or waits for us.
		orphans, err := tx.Query(ctx, `
			select b.digest from blobs b
			where b.digest = any($1) and not exists (select 1 from artifacts a where a.digest = b.digest)
			for update`, digests)
		if err != nil {
			return err
		}
		gone, err := pgx.CollectRows(orphans, pgx.RowTo[string])
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from blob_chunks where digest = any($1)`, gone); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `delete from blobs where digest = any($1)`, gone)
		return err
	})
}
