package store

import (
	"context"
	"errors"

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

// lockOpenRuns holds the index rows of runUIDs for the rest of tx (FOR KEY SHARE: it
// does not wait for status updates, only for a deletion) and fails with ErrRunGone when
// one is missing or ErrRunEnded when one has finished. Step API writes call it in the
// transaction that inserts, so DeleteRun, which deletes the index row first, can neither
// miss rows in flight nor be followed by new ones.
func lockOpenRuns(ctx context.Context, tx pgx.Tx, runUIDs ...string) error {
	rows, err := tx.Query(ctx, `select uid::text, finished_at is not null from run_index where uid = any($1::uuid[]) for key share`, runUIDs)
	if err != nil {
		return err
	}
	found := map[string]bool{}
	var uid string
	var finished bool
	if _, err := pgx.ForEachRow(rows, []any{&uid, &finished}, func() error {
		if finished {
			return ErrRunEnded
		}
		found[uid] = true
		return nil
	}); err != nil {
		return err
	}
	for _, u := range runUIDs {
		if !found[u] {
			return ErrRunGone
		}
	}
	return nil
}
