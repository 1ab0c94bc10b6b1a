package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aias-dev/aias/internal/stepjob"
)

// PutWorkflowSpec stores the resolved spec a Run starts with and returns its digest.
// Identical specs are stored once; storing one again refreshes its stored_at when that is
// older than storedRefresh, so the sweep (SweepSpecs) never takes a spec a Run is about to
// refer to.
func (s *Store) PutWorkflowSpec(ctx context.Context, spec []byte) (string, error) {
	sum := sha256.Sum256(spec)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	_, err := s.pool.Exec(ctx, `
		with stored as (
		  insert into workflow_specs (digest, spec) values ($1, $2) on conflict (digest) do nothing returning 1
		)
		update workflow_specs set stored_at = now()
		where digest = $1 and stored_at < now() - $3::float8 * interval '1 second' and not exists (select 1 from stored)`,
		digest, spec, storedRefresh.Seconds())
	return digest, err
}

// WorkflowSpec returns the spec stored under digest. Specs are not scoped to a namespace:
// a digest to read comes only from a Run's status.specDigest, which only the Run
// controller writes, from the Run's own namespace's Workflow (see migration 016).
func (s *Store) WorkflowSpec(ctx context.Context, digest string) ([]byte, error) {
	var spec []byte
	err := s.pool.QueryRow(ctx, `select spec from workflow_specs where digest = $1`, digest).Scan(&spec)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	return spec, err
}

// SlotClaim asks for one of a Workflow's concurrency slots for a Run.
type SlotClaim struct {
	RunUID, Namespace, Workflow string
	// Key is the Run's concurrency key (spec.concurrency.key); Max counts per key.
	Key string
	// Max is how many Runs of the Workflow (with the same Key) may hold a slot at once;
	// 0 means no limit.
	Max int
	// NamespaceMax is how many Runs of the whole namespace (a tenant's plan) may hold a
	// slot at once; 0 means no limit.
	NamespaceMax int
}

// ClaimSlot gives the Run a slot if it holds one already or one is free, atomically with
// respect to every other claim on the same Workflow. It reports whether the Run holds a slot.
func (s *Store) ClaimSlot(ctx context.Context, c SlotClaim) (bool, error) {
	var held bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Namespace lock first, then the Workflow's: every claim takes them in this order.
		// Workflow names hold no "/", so workflow + "/" + key names one key of one Workflow.
		for _, lock := range []string{"aias-slots/" + c.Namespace, "aias-slots/" + c.Namespace + "/" + c.Workflow + "/" + c.Key} {
			if _, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtextextended($1, 0))`, lock); err != nil {
				return err
			}
		}
		tag, err := tx.Exec(ctx, `
			insert into run_slots (run_uid, namespace, workflow, concurrency_key)
			select $1, $2, $3, $6
			where exists (select 1 from run_slots where run_uid = $1)
			   or (($4 = 0 or (select count(*) from run_slots where namespace = $2 and workflow = $3 and concurrency_key = $6) < $4)
			       and ($5 = 0 or (select count(*) from run_slots where namespace = $2) < $5))
			on conflict (run_uid) do nothing`, c.RunUID, c.Namespace, c.Workflow, c.Max, c.NamespaceMax, c.Key)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			held = true
			return nil
		}
		return tx.QueryRow(ctx, `select exists (select 1 from run_slots where run_uid = $1)`, c.RunUID).Scan(&held)
	})
	return held, err
}

// ReleaseSlot frees the Run's slot, if it holds one.
func (s *Store) ReleaseSlot(ctx context.Context, runUID string) error {
	_, err := s.pool.Exec(ctx, `delete from run_slots where run_uid = $1`, runUID)
	return err
}

// StepOutcome is how a step attempt ended, as step-run reported it.
type StepOutcome struct {
	ExitCode   int
	Message    string
	ReportedAt time.Time
	// RunSeconds is how long the command ran (nil when step-run did not say).
	RunSeconds *float64
}

// RecordStepOutcome stores the outcome of a step attempt; a repeated report replaces it.
func (s *Store) RecordStepOutcome(ctx context.Context, runUID, step string, attempt int, o StepOutcome) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guardRun(ctx, tx, runUID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `
			insert into step_outcomes (run_uid, step, attempt, exit_code, message, run_seconds) values ($1, $2, $3, $4, $5, $6)
			on conflict (run_uid, step, attempt) do update set exit_code = excluded.exit_code, message = excluded.message,
			  run_seconds = excluded.run_seconds, reported_at = now()`,
			runUID, step, attempt, o.ExitCode, o.Message, o.RunSeconds)
		return err
	})
}

// StepAttemptOutcome returns what step-run reported for an attempt, ErrNotFound when it
// reported nothing (it was killed, or never started).
func (s *Store) StepAttemptOutcome(ctx context.Context, runUID, step string, attempt int) (StepOutcome, error) {
	var o StepOutcome
	err := s.pool.QueryRow(ctx, `select exit_code, message, reported_at, run_seconds from step_outcomes where run_uid = $1 and step = $2 and attempt = $3`,
		runUID, step, attempt).Scan(&o.ExitCode, &o.Message, &o.ReportedAt, &o.RunSeconds)
	if errors.Is(err, pgx.ErrNoRows) {
		return o, ErrNotFound
	}
	return o, err
}

// StepRunSeconds returns, per step, how long the command of its latest reported attempt
// ran (steps without a measured attempt are absent).
func (s *Store) StepRunSeconds(ctx context.Context, runUID string) (map[string]float64, error) {
	rows, err := s.pool.Query(ctx, `
		select distinct on (step) step, run_seconds from step_outcomes
		where run_uid = $1 and run_seconds is not null order by step, attempt desc`, runUID)
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	var step string
	var secs float64
	_, err = pgx.ForEachRow(rows, []any{&step, &secs}, func() error { out[step] = secs; return nil })
	return out, err
}

// AttemptResult returns the `result` artifact of one step attempt.
func (s *Store) AttemptResult(ctx context.Context, runUID, step string, attempt int) (Artifact, error) {
	var a Artifact
	err := s.pool.QueryRow(ctx, `select digest, content_type, size from artifacts
		where run_uid = $1 and step = $2 and attempt = $3 and name = 'result'`, runUID, step, attempt).
		Scan(&a.Digest, &a.ContentType, &a.Size)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	a.RunUID, a.Step, a.Attempt, a.Name = runUID, step, attempt, stepjob.ResultArtifact
	return a, err
}

// SlotCounts says how many slots a Workflow's Runs and the whole namespace's hold, to
// explain a refused claim.
func (s *Store) SlotCounts(ctx context.Context, namespace, workflow, key string) (workflowSlots, namespaceSlots int, err error) {
	err = s.pool.QueryRow(ctx, `select count(*) filter (where workflow = $2 and concurrency_key = $3), count(*) from run_slots where namespace = $1`,
		namespace, workflow, key).Scan(&workflowSlots, &namespaceSlots)
	return workflowSlots, namespaceSlots, err
}
