package store

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// OrphanGrace is how long a run input or a frozen spec is kept after it was last stored,
// whether or not anything refers to it. The hook listener stores a payload before it
// creates the Run that refers to it, and the Run controller stores a spec before the
// status write that names it lands: until then only time protects them. An hour covers
// that store → create → watch round trip many times over (the create itself is bounded
// by the hook listener's request timeout); everything after it is protected by the
// references themselves (the run index, and the Runs in the manager's cache, see
// controllers/store_sweep.go).
const OrphanGrace = time.Hour

// storedRefresh is how old stored_at must be before storing the same content again
// refreshes it. A quarter of the grace: content stored (or stored again) at T is kept until
// at least T + ¾ OrphanGrace, and the refresh costs a write at most every quarter hour per
// input instead of one per Run (identical inline inputs are common).
const storedRefresh = OrphanGrace / 4

// SpecReuseWindow is how long after storing a spec the Run controller may name it in a
// Run's status without storing it again: half the grace, so that a spec it stored at T,
// kept until at least T + ¾ OrphanGrace, outlives the reuse by a quarter of the grace —
// time enough for the Run's status write and index to protect it.
const SpecReuseWindow = OrphanGrace / 2

// StoredInput names one input: content stored for one namespace, by digest.
type StoredInput struct{ Namespace, Digest string }

// UnreferencedInputs lists, oldest first, up to limit inputs last stored more than grace
// ago that no indexed Run of their namespace refers to.
func (s *Store) UnreferencedInputs(ctx context.Context, grace time.Duration, limit int) ([]StoredInput, error) {
	rows, err := s.pool.Query(ctx, `
		select i.namespace, i.digest from inputs i
		where i.stored_at < now() - $1::float8 * interval '1 second'
		  and not exists (select 1 from run_index r where r.namespace = i.namespace and r.input_digest = i.digest)
		order by i.stored_at limit $2`, grace.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[StoredInput])
}

// SweepInputs deletes the inputs of gone that are still unreferenced and older than grace
// (a Run indexed since they were listed, or the content stored again, keeps them), and
// refreshes the stored_at of keep: inputs the caller found a Run for that the index does
// not show yet, which would otherwise be listed again at every sweep.
func (s *Store) SweepInputs(ctx context.Context, gone, keep []StoredInput, grace time.Duration) (int64, error) {
	var deleted int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		ns, digests := splitInputs(gone)
		tag, err := tx.Exec(ctx, `
			delete from inputs i using unnest($1::text[], $2::text[]) as g(namespace, digest)
			where i.namespace = g.namespace and i.digest = g.digest
			  and i.stored_at < now() - $3::float8 * interval '1 second'
			  and not exists (select 1 from run_index r where r.namespace = i.namespace and r.input_digest = i.digest)`,
			ns, digests, grace.Seconds())
		if err != nil {
			return err
		}
		deleted = tag.RowsAffected()
		ns, digests = splitInputs(keep)
		_, err = tx.Exec(ctx, `
			update inputs i set stored_at = now() from unnest($1::text[], $2::text[]) as k(namespace, digest)
			where i.namespace = k.namespace and i.digest = k.digest`, ns, digests)
		return err
	})
	return deleted, err
}

func splitInputs(ins []StoredInput) (namespaces, digests []string) {
	namespaces, digests = make([]string, len(ins)), make([]string, len(ins))
	for i, in := range ins {
		namespaces[i], digests[i] = in.Namespace, in.Digest
	}
	return namespaces, digests
}

// UnreferencedSpecs lists, oldest first, up to limit frozen specs last stored more than
// grace ago that no indexed Run refers to.
func (s *Store) UnreferencedSpecs(ctx context.Context, grace time.Duration, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		select s.digest from workflow_specs s
		where s.stored_at < now() - $1::float8 * interval '1 second'
		  and not exists (select 1 from run_index r where r.spec_digest = s.digest)
		order by s.stored_at limit $2`, grace.Seconds(), limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// SweepSpecs is SweepInputs for frozen specs.
func (s *Store) SweepSpecs(ctx context.Context, gone, keep []string, grace time.Duration) (int64, error) {
	var deleted int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `
			delete from workflow_specs s where s.digest = any($1)
			  and s.stored_at < now() - $2::float8 * interval '1 second'
			  and not exists (select 1 from run_index r where r.spec_digest = s.digest)`, gone, grace.Seconds())
		if err != nil {
			return err
		}
		deleted = tag.RowsAffected()
		_, err = tx.Exec(ctx, `update workflow_specs set stored_at = now() where digest = any($1)`, keep)
		return err
	})
	return deleted, err
}
