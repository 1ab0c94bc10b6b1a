package store

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Why a write is refused for a cap: nothing of it is stored.
var (
	// ErrRunArtifactQuota: the Run's artifacts would exceed its plan's artifactBytesPerRun
	// (a *QuotaError tells the figures).
	ErrRunArtifactQuota = errors.New("the run's artifacts would exceed its artifactBytesPerRun")
	// ErrRunLogQuota: the Run's logs would exceed its plan's logBytesPerRun (a *QuotaError
	// tells the figures).
	ErrRunLogQuota = errors.New("the run's logs would exceed its logBytesPerRun")
	// ErrTooManyArtifacts: the step attempt already stores its most artifacts.
	ErrTooManyArtifacts = errors.New("the step attempt stores its most artifacts")
)

// QuotaError is a refusal for one of a Run's byte caps: Cap bytes, of which Used were
// taken by what the Run stored before.
type QuotaError struct {
	Quota     error // ErrRunArtifactQuota or ErrRunLogQuota
	Cap, Used int64
}

func (e *QuotaError) Error() string {
	return fmt.Sprintf("%v (%d bytes; %d used)", e.Quota, e.Cap, e.Used)
}

func (e *QuotaError) Unwrap() error { return e.Quota }

// attemptLockClass is the first key of the transaction-scoped advisory locks on step
// attempts ('ARTA'), which serialize the writers that count an attempt's artifacts.
const attemptLockClass = 0x41525441

// plannedArtifact is an artifact a transaction is about to record.
type plannedArtifact struct {
	key  ArtifactKey
	size int64
	// maxPerAttempt caps the artifacts of the key's attempt (0: no cap).
	maxPerAttempt int
}

type attemptRef struct {
	runUID, step string
	attempt      int
}

// reserveArtifacts decides, inside the transaction that writes them, which of writes fit
// the caps, and holds until commit what that decision rests on, so that writers in
// parallel can never together pass a cap (reserve, then write):
//   - advisory locks on the keys (a concurrent replacement of the same key sees this
//     one's content, not the one before) and on the attempts with a count cap;
//   - the run_limits rows of the Runs with an artifact byte cap, FOR UPDATE (a Run
//     without one takes no row lock: there is no row, or its artifact cap is null).
//
// All of them in one order for every writer: advisory locks by (class, hash), then rows
// by run uid. Only then, in statements of their own (in READ COMMITTED each statement sees
// what committed before it started), are the Runs' bytes, the attempts' counts and the
// keys' current artifacts read. Writes are decided in order, each counting those admitted
// before it; no two writes have the same key (smallCommitter.key keeps them out of one
// batch). It returns, per write, nil or why it is refused (*QuotaError,
// ErrTooManyArtifacts), and the digests the admitted writes replace.
func reserveArtifacts(ctx context.Context, tx pgx.Tx, writes []plannedArtifact) ([]error, []string, error) {
	n := len(writes)
	uids, steps, names := make([]string, n), make([]string, n), make([]string, n)
	attempts := make([]int32, n)
	counted := make([]bool, n)
	for i, w := range writes {
		uids[i], steps[i], attempts[i], names[i] = strings.ToLower(w.key.RunUID), w.key.Step, int32(w.key.Attempt), w.key.Name
		counted[i] = w.maxPerAttempt > 0
	}
	b := &pgx.Batch{}
	b.Queue(`
		select pg_advisory_xact_lock(c, h) from (
		  select $6::int c, hashtext(k.run_uid || '/' || k.step || '/' || k.attempt) h
		  from unnest($1::text[], $2::text[], $3::int[], $5::bool[]) as k(run_uid, step, attempt, counted) where k.counted
		  union
		  select $7::int, hashtext(k.run_uid || '/' || k.step || '/' || k.attempt || '/' || k.name)
		  from unnest($1::text[], $2::text[], $3::int[], $4::text[]) as k(run_uid, step, attempt, name)
		  order by 1, 2) locks`, uids, steps, attempts, names, counted, attemptLockClass, artifactLockClass)
	b.Queue(`select run_uid from run_limits where run_uid = any($1::uuid[]) and artifact_bytes is not null order by run_uid for update`, uids)
	runs := b.Queue(`
		select r.run_uid::text, r.artifact_bytes, coalesce((select sum(a.size) from artifacts a where a.run_uid = r.run_uid), 0)::bigint
		from run_limits r where r.run_uid = any($1::uuid[]) and r.artifact_bytes is not null`, uids)
	caps, used := map[string]int64{}, map[string]int64{}
	runs.Query(func(rows pgx.Rows) error {
		var uid string
		var c, u int64
		_, err := pgx.ForEachRow(rows, []any{&uid, &c, &u}, func() error { caps[uid], used[uid] = c, u; return nil })
		return err
	})
	type prior struct {
		size   int64
		digest string
	}
	current := map[ArtifactKey]prior{}
	keys := b.Queue(`
		select a.run_uid::text, a.step, a.attempt, a.name, a.size, a.digest from artifacts a
		join unnest($1::uuid[], $2::text[], $3::int[], $4::text[]) as k(run_uid, step, attempt, name)
		  on a.run_uid = k.run_uid and a.step = k.step and a.attempt = k.attempt and a.name = k.name`,
		uids, steps, attempts, names)
	keys.Query(func(rows pgx.Rows) error {
		var k ArtifactKey
		var p prior
		_, err := pgx.ForEachRow(rows, []any{&k.RunUID, &k.Step, &k.Attempt, &k.Name, &p.size, &p.digest}, func() error {
			current[k] = p
			return nil
		})
		return err
	})
	counts := map[attemptRef]int{}
	attemptCounts := b.Queue(`
		select a.run_uid::text, a.step, a.attempt, count(*) from artifacts a
		join (select distinct run_uid, step, attempt from unnest($1::uuid[], $2::text[], $3::int[], $4::bool[]) as k(run_uid, step, attempt, counted) where counted) k
		  on a.run_uid = k.run_uid and a.step = k.step and a.attempt = k.attempt
		group by 1, 2, 3`, uids, steps, attempts, counted)
	attemptCounts.Query(func(rows pgx.Rows) error {
		var a attemptRef
		var c int
		_, err := pgx.ForEachRow(rows, []any{&a.runUID, &a.step, &a.attempt, &c}, func() error { counts[a] = c; return nil })
		return err
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, nil, err
	}

	refusals := make([]error, n)
	var replaced []string
	for i, w := range writes {
		k := ArtifactKey{RunUID: uids[i], Step: w.key.Step, Attempt: w.key.Attempt, Name: w.key.Name}
		a := attemptRef{runUID: uids[i], step: w.key.Step, attempt: w.key.Attempt}
		old, replaces := current[k]
		if w.maxPerAttempt > 0 && !replaces && counts[a] >= w.maxPerAttempt {
			refusals[i] = ErrTooManyArtifacts
			continue
		}
		if c, capped := caps[uids[i]]; capped && used[uids[i]]-old.size+w.size > c {
			refusals[i] = &QuotaError{Quota: ErrRunArtifactQuota, Cap: c, Used: used[uids[i]] - old.size}
			continue
		}
		used[uids[i]] += w.size - old.size
		if replaces {
			replaced = append(replaced, old.digest)
		} else {
			counts[a]++
		}
	}
	return refusals, replaced, nil
}
