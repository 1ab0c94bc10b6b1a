package store

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// Small artifacts (most step outputs: a JSON result, a short report) are dominated by
// per-transaction cost, not by bytes. Concurrent small uploads are therefore group
// committed: whoever arrives while a batch is being written waits for the next batch,
// and each batch is one statement and one commit for all of its artifacts.
const (
	smallArtifactBytes = 64 << 10 // at most this size takes the group-commit path
	groupMaxItems      = 128
	groupMaxBytes      = 4 << 20
	groupFlushers      = 4 // batches in flight at once, so commits overlap
	groupFlushTimeout  = 30 * time.Second
)

type smallPut struct {
	key         ArtifactKey
	contentType string
	digest      string
	data        []byte
	done        chan smallResult // buffered, receives exactly once
}

type smallResult struct {
	createdAt time.Time
	err       error
}

type groupCommitter struct {
	exec func(ctx context.Context, batch []*smallPut) error

	mu       sync.Mutex
	pending  []*smallPut
	flushing int
}

// submit queues p and waits for the batch that writes it. A flusher goroutine exists
// only while there is work, so the committer needs no start or stop.
func (g *groupCommitter) submit(ctx context.Context, p *smallPut) (time.Time, error) {
	p.done = make(chan smallResult, 1)
	g.mu.Lock()
	g.pending = append(g.pending, p)
	if g.flushing < groupFlushers {
		g.flushing++
		go g.flushLoop()
	}
	g.mu.Unlock()
	select {
	case r := <-p.done:
		return r.createdAt, r.err
	case <-ctx.Done():
		// The batch may still commit it; a retried upload of the same key is harmless.
		return time.Time{}, ctx.Err()
	}
}

func (g *groupCommitter) flushLoop() {
	for {
		batch := g.take()
		if batch == nil {
			return
		}
		// Not tied to any one request: one caller going away must not fail the others.
		ctx, cancel := context.WithTimeout(context.Background(), groupFlushTimeout)
		if err := g.exec(ctx, batch); err != nil {
			for _, p := range batch {
				p.done <- smallResult{err: err}
			}
		}
		cancel()
	}
}

// take removes the next batch from the queue, or retires this flusher when it is empty.
// A batch never holds one artifact key twice (one statement cannot upsert a row twice);
// a repeat waits for the next batch, which keeps the last upload the winner.
func (g *groupCommitter) take() []*smallPut {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.pending) == 0 {
		g.flushing--
		return nil
	}
	seen := make(map[ArtifactKey]bool)
	n, bytes := 0, 0
	for n < len(g.pending) && n < groupMaxItems && (n == 0 || bytes+len(g.pending[n].data) <= groupMaxBytes) {
		if seen[g.pending[n].key] {
			break
		}
		seen[g.pending[n].key] = true
		bytes += len(g.pending[n].data)
		n++
	}
	batch := g.pending[:n:n]
	g.pending = append([]*smallPut(nil), g.pending[n:]...)
	return batch
}

// writeSmallBatch records a batch of single-chunk artifacts in one transaction: the keys'
// locks, then one statement for new blobs, their chunk and the artifact rows, then the
// blobs the batch replaced when nothing references them any more. Rows are written in key
// order so two batches touching the same blobs or keys lock them in the same order.
func (s *Store) writeSmallBatch(ctx context.Context, batch []*smallPut) error {
	var created map[ArtifactKey]time.Time
	var refused []*smallPut
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		uids := make([]string, len(batch))
		for i, p := range batch {
			uids[i] = p.key.RunUID
		}
		gone, err := guardRuns(ctx, tx, uids...)
		if err != nil {
			return err
		}
		live := batch[:0:0]
		refused = nil
		for _, p := range batch {
			if gone[strings.ToLower(p.key.RunUID)] {
				refused = append(refused, p)
			} else {
				live = append(live, p)
			}
		}
		if len(live) == 0 {
			return nil
		}
		created, err = writeSmallItems(ctx, tx, live)
		return err
	})
	if err != nil {
		return err
	}
	for _, p := range refused {
		p.done <- smallResult{err: ErrRunGone}
	}
	for _, p := range batch {
		if at, ok := created[ArtifactKey{RunUID: strings.ToLower(p.key.RunUID), Step: p.key.Step, Attempt: p.key.Attempt, Name: p.key.Name}]; ok {
			p.done <- smallResult{createdAt: at}
		}
	}
	return nil
}

// writeSmallItems writes the batch's rows in tx (see writeSmallBatch).
func writeSmallItems(ctx context.Context, tx pgx.Tx, batch []*smallPut) (map[ArtifactKey]time.Time, error) {
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
	keys := make([]ArtifactKey, n)
	for i, p := range batch {
		keys[i] = p.key
	}
	replaced, err := lockArtifacts(ctx, tx, keys)
	if err != nil {
		return nil, err
	}
	created, err := writeSmallRows(ctx, tx, namespaces, uids, runNames, steps, attempts, names, digests, types, sizes, data)
	if err != nil {
		return nil, err
	}
	return created, dropOrphanBlobs(ctx, tx, replaced)
}

// writeSmallRows is writeSmallBatch's one statement; it returns each row's created_at by
// key (run uid in lower case).
func writeSmallRows(ctx context.Context, tx pgx.Tx, namespaces, uids, runNames, steps []string, attempts []int32, names, digests, types []string, sizes []int64, data [][]byte) (map[ArtifactKey]time.Time, error) {
	n := len(namespaces)
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
