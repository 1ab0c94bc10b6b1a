package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// PutInput stores a run input for the Runs of one namespace (once, however many of its
// Runs share it) and returns its digest. Inputs are scoped to their namespace: a Run's
// spec.inputRef resolves only to an input stored for its own namespace (GetInput), so
// knowing the digest of another tenant's payload reads nothing. Storing content that is
// already stored refreshes its stored_at when that is older than storedRefresh, so the
// sweep (SweepInputs) never takes an input a Run is about to refer to.
func (s *Store) PutInput(ctx context.Context, namespace string, content []byte, contentType string) (string, error) {
	sum := sha256.Sum256(content)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	_, err := s.pool.Exec(ctx, `
		with stored as (
		  insert into inputs (namespace, digest, content, content_type, size) values ($1, $2, $3, $4, $5)
		  on conflict (namespace, digest) do nothing
		  returning 1
		)
		update inputs set stored_at = now()
		where namespace = $1 and digest = $2 and stored_at < now() - $6::float8 * interval '1 second' and not exists (select 1 from stored)`,
		namespace, digest, content, contentType, len(content), storedRefresh.Seconds())
	return digest, err
}

// GetInput returns an input stored for namespace and its content type; ErrNotFound when
// the namespace stored none with that digest (whatever other namespaces stored).
func (s *Store) GetInput(ctx context.Context, namespace, digest string) ([]byte, string, error) {
	var content []byte
	var contentType string
	err := s.pool.QueryRow(ctx, `select content, content_type from inputs where namespace = $1 and digest = $2`, namespace, digest).
		Scan(&content, &contentType)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", ErrNotFound
	}
	return content, contentType, err
}

// RunRecord is a Run's row in the run index, which the UI and API list from.
type RunRecord struct {
	UID, Namespace, Name, Workflow, Phase, Trigger, Endpoint, InputDigest string
	// SpecDigest is the Run's frozen spec (status.specDigest), which the sweep keeps.
	SpecDigest            string
	CreatedAt             time.Time
	StartedAt, FinishedAt *time.Time
}

// UpsertRun records or updates a Run in the index.
func (s *Store) UpsertRun(ctx context.Context, r RunRecord) error {
	// A webhook Run's delivery is marked created in the same statement (see migration
	// 011): the hook listener's own mark is only a fast path.
	_, err := s.pool.Exec(ctx, `
		with indexed as (
		  insert into run_index (uid, namespace, name, workflow, phase, trigger, endpoint, input_digest, created_at, started_at, finished_at, spec_digest)
		  values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $15)
		  on conflict (uid) do update set phase = excluded.phase, input_digest = excluded.input_digest, spec_digest = excluded.spec_digest,
		    started_at = excluded.started_at, finished_at = excluded.finished_at
		  returning 1
		)
		update deliveries set outcome = $13
		where $6 = $12 and namespace = $2 and run_name = $3 and outcome = $14`,
		r.UID, r.Namespace, r.Name, r.Workflow, r.Phase, r.Trigger, r.Endpoint, r.InputDigest, r.CreatedAt, r.StartedAt, r.FinishedAt,
		"Webhook", DeliveryCreated, DeliveryPending, r.SpecDigest)
	return err
}

// RunInput returns the input of the Run with uid in namespace, as recorded in the
// index, from the inputs of that namespace only. ErrNotFound: the Run is not indexed (or
// not in namespace), or its input is not stored for its namespace.
func (s *Store) RunInput(ctx context.Context, namespace, uid string) ([]byte, string, error) {
	var digest, contentType string
	var found bool
	var content []byte
	err := s.pool.QueryRow(ctx, `
		select r.input_digest, i.digest is not null, i.content, coalesce(i.content_type, '')
		from run_index r left join inputs i on i.namespace = r.namespace and i.digest = r.input_digest
		where r.uid = $1 and r.namespace = $2`, uid, namespace).Scan(&digest, &found, &content, &contentType)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, "", ErrNotFound
	}
	if err != nil {
		return nil, "", err
	}
	if digest == "" {
		return nil, "", nil // a Run without input
	}
	if !found {
		return nil, "", ErrNotFound
	}
	return content, contentType, nil
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
