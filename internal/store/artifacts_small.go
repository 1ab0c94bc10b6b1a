package store

import (
	"context"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Small artifacts (most step outputs: a JSON result, a short report) are group committed
// (groupcommit.go): each batch is one statement and one commit for all of its artifacts.
const (
	smallArtifactBytes = 64 << 10 // at most this size takes the group-commit path
	smallMaxItems      = 128
	smallMaxBytes      = 4 << 20
)

type smallPut struct {
	key         ArtifactKey
	contentType string
	digest      string
	data        []byte
	// maxPerAttempt caps the artifacts of key's attempt (0: no cap).
	maxPerAttempt int
}

type smallCommitter = groupCommitter[smallPut, time.Time]

func newSmallCommitter(s *Store) *smallCommitter {
	return &smallCommitter{
		exec:     s.writeSmallBatch,
		key:      func(p smallPut) any { return p.key },
		size:     func(p smallPut) int { return len(p.data) },
		maxItems: smallMaxItems, maxBytes: smallMaxBytes,
	}
}

// writeSmallBatch records a batch of single-chunk artifacts in one transaction: the
// caps reserved for the whole batch (reserveArtifacts: its locks, then each item in turn
// against the Run's byte cap and its attempt's count cap, counting the items admitted
// before it), then one statement for new blobs, their chunk and the artifact rows of the
// admitted items, then the blobs they replaced when nothing references them any more. Rows
// are written in key order so two batches touching the same blobs or keys lock them in the
// same order. An item refused for a deleted Run or a cap is answered with why; the others
// are written.
func (s *Store) writeSmallBatch(ctx context.Context, batch []*groupItem[smallPut, time.Time]) error {
	var created map[ArtifactKey]time.Time
	var refused map[*groupItem[smallPut, time.Time]]error
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		uids := make([]string, len(batch))
		for i, it := range batch {
			uids[i] = it.in.key.RunUID
		}
		gone, err := guardRuns(ctx, tx, uids...)
		if err != nil {
			return err
		}
		refused = map[*groupItem[smallPut, time.Time]]error{}
		var live []*groupItem[smallPut, time.Time]
		for _, it := range batch {
			if gone[strings.ToLower(it.in.key.RunUID)] {
				refused[it] = ErrRunGone
			} else {
				live = append(live, it)
			}
		}
		if len(live) == 0 {
			return nil
		}
		planned := make([]plannedArtifact, len(live))
		for i, it := range live {
			planned[i] = plannedArtifact{key: it.in.key, size: int64(len(it.in.data)), maxPerAttempt: it.in.maxPerAttempt}
		}
		refusals, replaced, err := reserveArtifacts(ctx, tx, planned)
		if err != nil {
			return err
		}
		var admitted []smallPut
		for i, it := range live {
			if refusals[i] != nil {
				refused[it] = refusals[i]
			} else {
				admitted = append(admitted, it.in)
			}
		}
		if len(admitted) == 0 {
			return nil
		}
		if created, err = writeSmallRows(ctx, tx, admitted); err != nil {
			return err
		}
		return dropOrphanBlobs(ctx, tx, replaced)
	})
	if err != nil {
		return err
	}
	for it, why := range refused {
		it.resolve(time.Time{}, why)
	}
	for _, it := range batch {
		k := it.in.key
		if at, ok := created[ArtifactKey{RunUID: strings.ToLower(k.RunUID), Step: k.Step, Attempt: k.Attempt, Name: k.Name}]; ok {
			it.resolve(at, nil)
		}
	}
	return nil
}

// writeSmallRows is writeSmallBatch's one statement; it returns each row's created_at by
// key (run uid in lower case).
func writeSmallRows(ctx context.Context, tx pgx.Tx, batch []smallPut) (map[ArtifactKey]time.Time, error) {
	n := len(batch)
	var (
		namespaces, runNames, steps, names, digests, types = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		uids                                               = make([]string, n)
		attempts                                           = make([]int32, n)
		sizes                                              = make([]int64, n)
		data                                               = make([][]byte, n)
	)
	for i, p := range batch {
		k := p.key
		namespaces[i], uids[i], runNames[i], steps[i], attempts[i], names[i] = k.Namespace, k.RunUID, k.RunName, k.Step, int32(k.Attempt), k.Name
		digests[i], types[i], sizes[i], data[i] = p.digest, p.contentType, int64(len(p.data)), p.data
	}
	rows, err := tx.Query(ctx, `
		with input as (
		  select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::int[], $6::text[], $7::text[], $8::text[], $9::bigint[], $10::bytea[])
		    as t(namespace, run_uid, run_name, step, attempt, name, digest, content_type, size, data)
		),
		new_blobs as (
		  insert into blobs (digest, size)
		  select distinct digest, size from input order by digest
		  on conflict (digest) do nothing
		  returning digest
		),
		new_chunks as (
		  insert into blob_chunks (digest, seq, data)
		  select distinct on (i.digest) i.digest, 0, i.data
		  from input i join new_blobs b on b.digest = i.digest
		  where i.size > 0
		  order by i.digest
		)
		insert into artifacts (namespace, run_uid, run_name, step, attempt, name, digest, content_type, size)
		select namespace, run_uid, run_name, step, attempt, name, digest, content_type, size
		from input order by run_uid, step, attempt, name
		on conflict (run_uid, step, attempt, name) do update
		  set digest = excluded.digest, content_type = excluded.content_type, size = excluded.size, created_at = now()
		returning run_uid::text, step, attempt, name, created_at`,
		namespaces, uids, runNames, steps, attempts, names, digests, types, sizes, data)
	if err != nil {
		return nil, err
	}
	created := make(map[ArtifactKey]time.Time, n)
	var k ArtifactKey
	var at time.Time
	_, err = pgx.ForEachRow(rows, []any{&k.RunUID, &k.Step, &k.Attempt, &k.Name, &at}, func() error {
		created[ArtifactKey{RunUID: strings.ToLower(k.RunUID), Step: k.Step, Attempt: k.Attempt, Name: k.Name}] = at
		return nil
	})
	return created, err
}
