package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// PutInput stores a run input by its digest (once, however many Runs share it) and
// returns the digest.
func (s *Store) PutInput(ctx context.Context, content []byte, contentType string) (string, error) {
	sum := sha256.Sum256(content)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	_, err := s.pool.Exec(ctx, `insert into inputs (digest, content, content_type, size) values ($1, $2, $3, $4)
		on conflict (digest) do nothing`, digest, content, contentType, len(content))
	return digest, err
}

// GetInput returns a stored input and its content type.
func (s *Store) GetInput(ctx context.Context, digest string) ([]byte, string, error) {
	var content []byte
	var contentType string
	err := s.pool.QueryRow(ctx, `select content, content_type from inputs where digest = $1`, digest).Scan(&content, &contentType)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", ErrNotFound
	}
	return content, contentType, err
}

// RunRecord is a Run's row in the run index, which the UI and API list from.
type RunRecord struct {
	UID, Namespace, Name, Workflow, Phase, Trigger, Endpoint, InputDigest string
	CreatedAt                                                             time.Time
	StartedAt, FinishedAt                                                 *time.Time
}

// UpsertRun records or updates a Run in the index.
func (s *Store) UpsertRun(ctx context.Context, r RunRecord) error {
	// A webhook Run's delivery is marked created in the same statement (see migration
	// 011): the hook listener's own mark is only a fast path.
	_, err := s.pool.Exec(ctx, `
		with indexed as (
		  insert into run_index (uid, namespace, name, workflow, phase, trigger, endpoint, input_digest, created_at, started_at, finished_at)
		  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
		  on conflict (uid) do update set phase = excluded.phase, input_digest = excluded.input_digest,
		    started_at = excluded.started_at, finished_at = excluded.finished_at
		  returning 1
		)
		update deliveries set outcome = $13
		where $6 = $12 and namespace = $2 and run_name = $3 and outcome = $14`,
		r.UID, r.Namespace, r.Name, r.Workflow, r.Phase, r.Trigger, r.Endpoint, r.InputDigest, r.CreatedAt, r.StartedAt, r.FinishedAt,
		"Webhook", DeliveryCreated, DeliveryPending)
	return err
}

// RunInput returns the input of the Run with uid, as recorded in the index.
func (s *Store) RunInput(ctx context.Context, uid string) ([]byte, string, error) {
	var digest string
	err := s.pool.QueryRow(ctx, `select input_digest from run_index where uid = $1`, uid).Scan(&digest)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	if digest == "" {
		return nil, "", nil // a Run without input
	}
	return s.GetInput(ctx, digest)
}

// StepResult returns the digest of the `result` artifact of a step's latest attempt.
func (s *Store) StepResult(ctx context.Context, runUID, step string) (Artifact, error) {
	var a Artifact
	err := s.pool.QueryRow(ctx, `select digest, content_type, size, attempt from artifacts
		where run_uid = $1 and step = $2 and name = 'result' order by attempt desc limit 1`, runUID, step).
		Scan(&a.Digest, &a.ContentType, &a.Size, &a.Attempt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}
