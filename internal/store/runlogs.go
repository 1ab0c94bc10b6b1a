package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/aias-dev/aias/internal/stepjob"
)

// LogStreams are the streams a step attempt writes.
var LogStreams = []string{stepjob.StreamStdout, stepjob.StreamStderr, stepjob.StreamSystem}

// LogKey is one stream of one step attempt, and After how many of its lines were read.
type LogKey struct {
	Step    string
	Attempt int
	Stream  string
	After   int64
}

// RunLogLine is a line with the step attempt it belongs to. Line is the line as text (see
// LogText); ReadRunLogLines leaves Raw nil (readers show the text).
type RunLogLine struct {
	Step    string
	Attempt int
	stepjob.LogLine
}

// RunLogPage bounds one page: at most Limit lines, and at most MaxBytes bytes of line
// text unless the first line alone is larger (a page always makes progress).
type RunLogPage struct {
	Limit    int
	MaxBytes int64
}

// RunLogRef names one line of a page: its stream (an index into the keys the page was
// asked for), its sequence number and the bytes of its text.
type RunLogRef struct {
	Key   int
	Seq   int64
	Bytes int64
}

// pageRunLogsSQL is PageRunLogs' query: $1 the Run's uid; $2–$5 the keys' steps,
// attempts, streams and cursors; $6 the line limit; $7 the byte bound.
//
// candidates: per key, the first $6 (seq, ts) after its cursor (an index range scan
// each; no line text is copied or sorted) with the stream's running maximum time. page:
// the first $6 of them in merge order. sized: their sizes, looked up by primary key (a
// lateral lookup per line: its limit keeps the planner from hashing a scan of all the
// Run's lines instead), with the bytes up to and including each. The page keeps the lines
// within the byte bound, and always its first: total grows along the order, so what is
// kept is a prefix of the merge, and of each stream.
const pageRunLogsSQL = `
	with candidates as (
		select k.i, k.step, k.attempt, k.stream, l.seq,
			max(l.ts) over (partition by k.i order by l.seq) as sort_ts
		from unnest($2::text[], $3::int[], $4::text[], $5::bigint[]) with ordinality as k(step, attempt, stream, after, i)
		cross join lateral (
			select seq, ts from run_logs
			where run_uid = $1 and step = k.step and attempt = k.attempt and stream = k.stream and seq > k.after
			order by seq limit $6) l
	), page as (
		select * from candidates order by sort_ts, step, attempt, stream, seq limit $6
	), sized as (
		select p.i, p.seq, l.bytes,
			sum(l.bytes) over w as total,
			row_number() over w as n,
			count(*) over () as candidates
		from page p
		cross join lateral (
			select octet_length(line)::bigint as bytes from run_logs
			where run_uid = $1 and step = p.step and attempt = p.attempt and stream = p.stream and seq = p.seq limit 1) l
		window w as (order by p.sort_ts, p.step, p.attempt, p.stream, p.seq rows unbounded preceding)
	)
	select i - 1, seq, bytes, candidates from sized
	where total <= $7 or n = 1
	order by n`

// PageRunLogs works out, in one query, which lines come next after each key's After,
// merged into one order: by the running maximum of its stream's timestamps, then step,
// attempt, stream and sequence. Each stream's lines keep their sequence order even when
// its clock went backwards, so a cursor of the last sequence read per stream never skips
// a line; and streams interleave by time. The page holds at most p.Limit lines and
// p.MaxBytes of their text, both bounds applied in PostgreSQL; it names the lines
// without their text (ReadRunLogLines reads it), so its size is bounded by p.Limit.
//
// more reports that the page was cut by one of its bounds, so lines may be waiting after
// it; false means it holds every line stored after the keys.
func (s *Store) PageRunLogs(ctx context.Context, runUID string, keys []LogKey, p RunLogPage) (refs []RunLogRef, more bool, err error) {
	if len(keys) == 0 || p.Limit <= 0 {
		return nil, false, nil
	}
	steps, attempts, streams := keyColumns(keys)
	afters := make([]int64, len(keys))
	for i, k := range keys {
		afters[i] = k.After
	}
	rows, err := s.pool.Query(ctx, pageRunLogsSQL, runUID, steps, attempts, streams, afters, p.Limit, p.MaxBytes)
	if err != nil {
		return nil, false, err
	}
	var candidates int64
	refs, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (RunLogRef, error) {
		var r RunLogRef
		err := row.Scan(&r.Key, &r.Seq, &r.Bytes, &candidates)
		return r, err
	})
	if err != nil {
		return nil, false, err
	}
	return refs, candidates == int64(p.Limit) || int64(len(refs)) < candidates, nil
}

// ReadRunLogLines reads the lines refs name (a page of PageRunLogs over the same keys),
// in refs' order, and hands them to fn one at a time as they arrive; fn's error stops
// the read and is returned. A line deleted since (with its Run) is left out.
func (s *Store) ReadRunLogLines(ctx context.Context, runUID string, keys []LogKey, refs []RunLogRef, fn func(RunLogLine) error) error {
	if len(refs) == 0 {
		return nil
	}
	steps, attempts, streams := keyColumns(keys)
	index := make([]int32, len(refs))
	seqs := make([]int64, len(refs))
	for i, r := range refs {
		if r.Key < 0 || r.Key >= len(keys) {
			return fmt.Errorf("log ref %d: key %d of %d", i, r.Key, len(keys))
		}
		index[i], seqs[i] = int32(r.Key)+1, r.Seq
	}
	rows, err := s.pool.Query(ctx, `
		select k.step, k.attempt, k.stream, r.seq, l.ts, l.line
		from unnest($5::int[], $6::bigint[]) with ordinality as r(key, seq, n)
		join unnest($2::text[], $3::int[], $4::text[]) with ordinality as k(step, attempt, stream, i) on k.i = r.key
		cross join lateral (
			select ts, line from run_logs
			where run_uid = $1 and step = k.step and attempt = k.attempt and stream = k.stream and seq = r.seq limit 1) l
		order by r.n`, runUID, steps, attempts, streams, index, seqs)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var l RunLogLine
		var attempt int32
		var ts time.Time
		if err := rows.Scan(&l.Step, &attempt, &l.Stream, &l.Seq, &ts, &l.Line); err != nil {
			return err
		}
		l.Attempt, l.Time = int(attempt), ts
		if err := fn(l); err != nil {
			return err
		}
	}
	return rows.Err()
}

// keyColumns splits keys into the arrays the log queries unnest.
func keyColumns(keys []LogKey) (steps []string, attempts []int32, streams []string) {
	steps, attempts, streams = make([]string, len(keys)), make([]int32, len(keys)), make([]string, len(keys))
	for i, k := range keys {
		steps[i], attempts[i], streams[i] = k.Step, int32(k.Attempt), k.Stream
	}
	return steps, attempts, streams
}
