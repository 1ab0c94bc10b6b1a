package store

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
)

// RunLimits are a Run's byte caps; nil means no cap.
type RunLimits struct {
	ArtifactBytes, LogBytes *int64
}

// SetRunLimits records a Run's caps (again, harmlessly, on a retried reconcile).
func (s *Store) SetRunLimits(ctx context.Context, runUID string, l RunLimits) error {
	_, err := s.pool.Exec(ctx, `insert into run_limits (run_uid, artifact_bytes, log_bytes) values ($1, $2, $3)
		on conflict (run_uid) do update set artifact_bytes = excluded.artifact_bytes, log_bytes = excluded.log_bytes`,
		runUID, l.ArtifactBytes, l.LogBytes)
	return err
}

// RunLimits returns a Run's caps and the log bytes stored so far; no row means no caps.
func (s *Store) RunLimits(ctx context.Context, runUID string) (RunLimits, int64, error) {
	var l RunLimits
	var used int64
	err := s.pool.QueryRow(ctx, `select artifact_bytes, log_bytes, log_bytes_used from run_limits where run_uid = $1`, runUID).
		Scan(&l.ArtifactBytes, &l.LogBytes, &used)
	if errors.Is(err, pgx.ErrNoRows) {
		return RunLimits{}, 0, nil
	}
	return l, used, err
}

// ArtifactBytes is the total size of a Run's artifacts, except one key being replaced. It
// is a hint (the step API refuses an upload that cannot fit before reading it); the cap
// holds through the reservation in the write's transaction (reserveArtifacts).
func (s *Store) ArtifactBytes(ctx context.Context, runUID string, except ArtifactKey) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `select coalesce(sum(size), 0) from artifacts where run_uid = $1
		and not (step = $2 and attempt = $3 and name = $4)`, runUID, except.Step, except.Attempt, except.Name).Scan(&n)
	return n, err
}
