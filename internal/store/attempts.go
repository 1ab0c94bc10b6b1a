package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Why the step API refuses a step attempt's request although its tokens are genuine.
var (
	// ErrRunGone: the Run's index row is gone (the Run was deleted) or never existed.
	ErrRunGone = errors.New("the run no longer exists")
	// ErrRunEnded: the Run has finished.
	ErrRunEnded = errors.New("the run has ended")
	// ErrAttemptEnded: the attempt reported its outcome.
	ErrAttemptEnded = errors.New("the step attempt has ended")
)

// AttemptOpen reports whether a step attempt may still write: its Run is indexed and not
// finished, and the attempt has not reported its outcome. It returns nil or one of
// ErrRunGone, ErrRunEnded, ErrAttemptEnded.
func (s *Store) AttemptOpen(ctx context.Context, runUID, step string, attempt int) error {
	var finished, reported bool
	err := s.pool.QueryRow(ctx, `
		select r.finished_at is not null,
		       exists (select 1 from step_outcomes o where o.run_uid = r.uid and o.step = $2 and o.attempt = $3)
		from run_index r where r.uid = $1`, runUID, step, attempt).Scan(&finished, &reported)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
		return ErrRunGone
	case err != nil:
		return err
	case finished:
		return ErrRunEnded
	case reported:
		return ErrAttemptEnded
	}
	return nil
}

// runLockSeed makes the advisory lock keys of runs (hashtextextended of the lower-case
// uid) a key space of their own.
const runLockSeed = 7226

// guardRuns holds a shared advisory lock on each run for the rest of tx and returns
// those that DeleteRun has deleted. Every step API write runs it in the transaction that
// inserts and writes nothing for a deleted run: DeleteRun holds the same lock exclusively
// while it records the tombstone and deletes, so it waits for writes in flight, and
// writes after it see the tombstone.
func guardRuns(ctx context.Context, tx pgx.Tx, runUIDs ...string) (map[string]bool, error) {
	// Two statements: in READ COMMITTED a statement's snapshot is taken when it starts,
	// so a check in the statement that waited for the lock would not see the tombstone
	// that DeleteRun committed meanwhile.
	if _, err := tx.Exec(ctx, `
		select pg_advisory_xact_lock_shared(hashtextextended(u, $2))
		from (select distinct lower(x) as u from unnest($1::text[]) x) d order by u`, runUIDs, runLockSeed); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, `select uid::text from deleted_runs where uid = any($1::uuid[])`, runUIDs)
	if err != nil {
		return nil, err
	}
	gone := map[string]bool{}
	var uid string
	_, err = pgx.ForEachRow(rows, []any{&uid}, func() error { gone[uid] = true; return nil })
	return gone, err
}

// guardRun is guardRuns for one run: ErrRunGone when it was deleted.
func guardRun(ctx context.Context, tx pgx.Tx, runUID string) error {
	gone, err := guardRuns(ctx, tx, runUID)
	if err != nil {
		return err
	}
	if len(gone) > 0 {
		return ErrRunGone
	}
	return nil
}

// PurgeDeletedRuns forgets runs deleted before `before`, in batches of up to limit, and
// reports how many: once every ticket of a Run has expired, nothing can write for it.
func (s *Store) PurgeDeletedRuns(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		delete from deleted_runs where uid in (
		  select uid from deleted_runs where deleted_at < $1 order by deleted_at limit $2 for update skip locked)`, before, limit)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
