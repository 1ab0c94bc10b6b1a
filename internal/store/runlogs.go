package store

import (
	"context"
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
// LogText); Raw holds its exact bytes when they differ.
type RunLogLine struct {
	Step    string
	Attempt int
	stepjob.LogLine
}

// ReadRunLogs reads, for each key, up to limit lines after key.After, in one query: one
// index range scan per key, so following a Run with a million stored lines costs the same
// per poll as following an empty one. Lines come back per key in sequence order; callers
// merge them by time for display.
func (s *Store) ReadRunLogs(ctx context.Context, runUID string, keys []LogKey, limit int) ([]RunLogLine, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	steps := make([]string, len(keys))
	attempts := make([]int32, len(keys))
	streams := make([]string, len(keys))
	afters := make([]int64, len(keys))
	for i, k := range keys {
		steps[i], attempts[i], streams[i], afters[i] = k.Step, int32(k.Attempt), k.Stream, k.After
	}
	rows, err := s.pool.Query(ctx, `
		select k.step, k.attempt, l.stream, l.seq, l.ts, l.line, l.raw
		from unnest($2::text[], $3::int[], $4::text[], $5::bigint[]) as k(step, attempt, stream, after)
		cross join lateral (
			select stream, seq, ts, line, raw from run_logs
			where run_uid = $1 and step = k.step and attempt = k.attempt and stream = k.stream and seq > k.after
			order by seq limit $6) l`,
		runUID, steps, attempts, streams, afters, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (RunLogLine, error) {
		var l RunLogLine
		var attempt int32
		var ts time.Time
		err := row.Scan(&l.Step, &attempt, &l.Stream, &l.Seq, &ts, &l.Line, &l.Raw)
		l.Attempt, l.Time = int(attempt), ts
		return l, err
	})
}
