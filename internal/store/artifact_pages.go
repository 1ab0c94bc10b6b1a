package store

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ListArtifactsAfter lists up to limit of a Run's artifacts in (step, attempt, name)
// order, after the one at `after` (nil: from the first): a page of ListArtifacts, read
// along the primary key, for readers that must not hold a Run's every artifact at once.
func (s *Store) ListArtifactsAfter(ctx context.Context, runUID string, after *Artifact, limit int) ([]Artifact, error) {
	var step, name string
	attempt := 0
	if after != nil {
		step, attempt, name = after.Step, after.Attempt, after.Name
	}
	rows, err := s.pool.Query(ctx, `
		select namespace, run_name, run_uid::text, step, attempt, name, digest, content_type, size, created_at
		from artifacts where run_uid = $1 and ($2::bool or (step, attempt, name) > ($3, $4, $5))
		order by step, attempt, name limit $6`, runUID, after == nil, step, attempt, name, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, scanArtifact)
}
