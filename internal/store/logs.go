package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aias-dev/aias/internal/stepjob"
)

// LogTarget is the step attempt a batch of lines belongs to.
type LogTarget struct {
	Namespace string
	RunUID    string
	Step      string
	Attempt   int
}

// uniqueViolation is PostgreSQL's SQLSTATE for a duplicate key.
const uniqueViolation = "23505"

// AppendLogs stores a batch atomically. Lines already stored (same stream and
// sequence) are skipped, so a retried batch is not duplicated. It returns how many lines
// were new.
//
// A fresh batch, the common case, goes in with COPY. Only when COPY hits a line that is
// already there (a retry after a lost response, or an overlapping resend) does the batch
// go again as an INSERT that skips the lines it already has.
func (s *Store) AppendLogs(ctx context.Context, t LogTarget, lines []stepjob.LogLine) (int64, error) {
	return s.appendLogs(ctx, t, lines, false)
}

// AppendCappedLogs is AppendLogs for a Run whose plan caps its log bytes: the bytes of
// the lines that are new (a retried batch adds none) are reserved against the Run's
// logBytesPerRun in the same transaction, so batches in parallel never together pass it.
// Over the cap nothing of the batch is stored (*QuotaError of ErrRunLogQuota).
func (s *Store) AppendCappedLogs(ctx context.Context, t LogTarget, lines []stepjob.LogLine) (int64, error) {
	return s.appendLogs(ctx, t, lines, true)
}

func (s *Store) appendLogs(ctx context.Context, t LogTarget, lines []stepjob.LogLine, capped bool) (int64, error) {
	if len(lines) == 0 {
		return 0, nil
	}
	// Typed once per batch: handed a string for a uuid or int4 column, COPY's encoder
	// fails, builds an error and retries per value, which costs more than the insert.
	var uid pgtype.UUID
	if err := uid.Scan(t.RunUID); err != nil {
		return 0, fmt.Errorf("run uid %q: %w", t.RunUID, err)
	}
	attempt := int32(t.Attempt)
	texts := make([]string, len(lines))
	raws := make([][]byte, len(lines))
	for i, l := range lines {
		texts[i], raws[i] = LogText(l)
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guardRun(ctx, tx, t.RunUID); err != nil {
			return err
		}
		var err error
		n, err = tx.CopyFrom(ctx, pgx.Identifier{"run_logs"},
			[]string{"namespace", "run_uid", "step", "attempt", "stream", "seq", "ts", "line", "raw"},
			pgx.CopyFromSlice(len(lines), func(i int) ([]any, error) {
				l := lines[i]
				return []any{t.Namespace, uid, t.Step, attempt, l.Stream, l.Seq, l.Time, texts[i], raws[i]}, nil
			}))
		if err != nil || !capped {
			return err
		}
		var size int64 // every line was new
		for _, l := range lines {
			size += LogLineBytes(l)
		}
		return reserveLogBytes(ctx, tx, t.RunUID, size)
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == uniqueViolation {
		return s.appendLogsSkippingStored(ctx, t, lines, texts, raws, capped)
	}
	if err != nil {
		return 0, err
	}
	return n, nil
}

// reserveLogBytes adds size to the Run's stored log bytes unless that passes its cap,
// holding its run_limits row until tx ends. A Run without a row has no cap.
func reserveLogBytes(ctx context.Context, tx pgx.Tx, runUID string, size int64) error {
	if size == 0 {
		return nil
	}
	tag, err := tx.Exec(ctx, `update run_limits set log_bytes_used = log_bytes_used + $2
		where run_uid = $1 and (log_bytes is null or log_bytes_used + $2 <= log_bytes)`, runUID, size)
	if err != nil || tag.RowsAffected() == 1 {
		return err
	}
	var limit, used int64
	err = tx.QueryRow(ctx, `select log_bytes, log_bytes_used from run_limits where run_uid = $1 and log_bytes is not null`, runUID).Scan(&limit, &used)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil
	}
	if err != nil {
		return err
	}
	return &QuotaError{Quota: ErrRunLogQuota, Cap: limit, Used: used}
}

func (s *Store) appendLogsSkippingStored(ctx context.Context, t LogTarget, lines []stepjob.LogLine, texts []string, raws [][]byte, capped bool) (int64, error) {
	streams := make([]string, len(lines))
	seqs := make([]int64, len(lines))
	times := make([]time.Time, len(lines))
	for i, l := range lines {
		streams[i], seqs[i], times[i] = l.Stream, l.Seq, l.Time
	}
	var n int64
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guardRun(ctx, tx, t.RunUID); err != nil {
			return err
		}
		// The bytes of the lines that are new, as LogLineBytes counts them.
		var size int64
		err := tx.QueryRow(ctx, `
			with inserted as (
			  insert into run_logs (namespace, run_uid, step, attempt, stream, seq, ts, line, raw)
			  select $1, $2, $3, $4, l.stream, l.seq, l.ts, l.line, l.raw
			  from unnest($5::text[], $6::bigint[], $7::timestamptz[], $8::text[], $9::bytea[]) as l(stream, seq, ts, line, raw)
			  on conflict (run_uid, step, attempt, stream, seq) do nothing
			  returning coalesce(octet_length(raw), octet_length(line)) as size)
			select count(*), coalesce(sum(size), 0)::bigint from inserted`,
			t.Namespace, t.RunUID, t.Step, t.Attempt, streams, seqs, times, texts, raws).Scan(&n, &size)
		if err != nil || !capped {
			return err
		}
		return reserveLogBytes(ctx, tx, t.RunUID, size)
	})
	return n, err
}

// LogText is how a line is stored: text, a valid UTF-8 string without NUL that every
// reader can show, and raw, the line's exact bytes when they differ from text (nil
// otherwise). The line's bytes are l.Raw when set, else l.Line (which may hold any
// bytes). text has U+FFFD in place of each byte that is not text: each byte of an
// invalid UTF-8 sequence, and NUL (PostgreSQL's text type refuses both).
func LogText(l stepjob.LogLine) (text string, raw []byte) {
	b := l.Line
	if l.Raw != nil {
		b = string(l.Raw)
	}
	if IsLogText(b) {
		return b, nil
	}
	var sb strings.Builder
	sb.Grow(len(b) + 8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRuneInString(b[i:])
		if r == 0 || (r == utf8.RuneError && size == 1) {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(b[i : i+size])
		}
		i += size
	}
	return sb.String(), []byte(b)
}

// IsLogText reports whether a line's bytes are stored as they are: valid UTF-8 without
// a NUL byte.
func IsLogText(b string) bool {
	return utf8.ValidString(b) && strings.IndexByte(b, 0) < 0
}

// LogLineBytes is a line's size as the per-run log cap counts it: its exact bytes.
func LogLineBytes(l stepjob.LogLine) int64 {
	if l.Raw != nil {
		return int64(len(l.Raw))
	}
	return int64(len(l.Line))
}

// ReadLogs returns a step attempt's lines of one stream in order, after sequence afterSeq.
// Line is the line as text (see LogText); Raw holds its exact bytes when they differ.
func (s *Store) ReadLogs(ctx context.Context, t LogTarget, stream string, afterSeq int64, limit int) ([]stepjob.LogLine, error) {
	rows, err := s.pool.Query(ctx, `
		select stream, seq, ts, line, raw from run_logs
		where run_uid = $1 and step = $2 and attempt = $3 and stream = $4 and seq > $5
		order by seq limit $6`, t.RunUID, t.Step, t.Attempt, stream, afterSeq, limit)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowToStructByPos[stepjob.LogLine])
}

// LogBytes is the total size of a Run's stored log lines, for the per-run cap.
func (s *Store) LogBytes(ctx context.Context, runUID string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `select coalesce(sum(coalesce(octet_length(raw), octet_length(line))), 0) from run_logs where run_uid = $1`, runUID).Scan(&n)
	return n, err
}

// IsDataError reports whether PostgreSQL refused a write for its content (SQLSTATE
// class 22, data exception, or a violated not-null or check constraint): sending the
// same write again gets the same answer. Unique and foreign-key violations are left
// out: a concurrent writer causes those, and a retry can succeed.
func IsDataError(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && (strings.HasPrefix(pgErr.Code, "22") || pgErr.Code == "23502" || pgErr.Code == "23514")
}
