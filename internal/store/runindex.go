package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunFilter selects runs of one namespace from the index. Empty fields do not filter.
type RunFilter struct {
	Namespace                 string
	Workflow, Phase, Endpoint string
	// CreatedFrom (inclusive) and CreatedTo (exclusive) bound the creation time.
	CreatedFrom, CreatedTo time.Time
}

// RunPage is one page of runs, newest first; Continue fetches the next page.
type RunPage struct {
	Runs     []RunRecord
	Continue string
}

// ErrBadContinue means a continue token was not one ListRuns issued.
var ErrBadContinue = errors.New("invalid continue token")

// ListRuns pages through the run index newest first with a keyset on (created_at, uid):
// every page costs one index range scan however deep it is, which is what keeps the
// runs list fast at hundreds of thousands of runs (an OFFSET would scan all it skips).
func (s *Store) ListRuns(ctx context.Context, f RunFilter, limit int, continueToken string) (RunPage, error) {
	where := []string{"namespace = $1"}
	args := []any{f.Namespace}
	add := func(cond string, v any) {
		args = append(args, v)
		where = append(where, fmt.Sprintf(cond, len(args)))
	}
	if f.Workflow != "" {
		add("workflow = $%d", f.Workflow)
	}
	if f.Phase != "" {
		add("phase = $%d", f.Phase)
	}
	if f.Endpoint != "" {
		add("endpoint = $%d", f.Endpoint)
	}
	if !f.CreatedFrom.IsZero() {
		add("created_at >= $%d", f.CreatedFrom)
	}
	if !f.CreatedTo.IsZero() {
		add("created_at < $%d", f.CreatedTo)
	}
	if continueToken != "" {
		at, uid, err := decodeRunCursor(continueToken)
		if err != nil {
			return RunPage{}, err
		}
		args = append(args, at, uid)
		where = append(where, fmt.Sprintf("(created_at, uid) < ($%d, $%d::uuid)", len(args)-1, len(args)))
	}
	args = append(args, limit+1) // one more tells whether there is a next page
	rows, err := s.pool.Query(ctx, `
		select uid::text, namespace, name, workflow, phase, trigger, endpoint, input_digest, spec_digest, created_at, started_at, finished_at
		from run_index where `+strings.Join(where, " and ")+`
		order by created_at desc, uid desc limit $`+fmt.Sprint(len(args)), args...)
	if err != nil {
		return RunPage{}, err
	}
	runs, err := pgx.CollectRows(rows, scanRunRecord)
	if err != nil {
		return RunPage{}, err
	}
	page := RunPage{Runs: runs}
	if len(runs) > limit {
		page.Runs = runs[:limit]
		last := page.Runs[limit-1]
		page.Continue = encodeRunCursor(last.CreatedAt, last.UID)
	}
	return page, nil
}

// GetRun returns the index row of the Run namespace/name.
func (s *Store) GetRun(ctx context.Context, namespace, name string) (RunRecord, error) {
	rows, err := s.pool.Query(ctx, `
		select uid::text, namespace, name, workflow, phase, trigger, endpoint, input_digest, spec_digest, created_at, started_at, finished_at
		from run_index where namespace = $1 and name = $2 order by created_at desc limit 1`, namespace, name)
	if err != nil {
		return RunRecord{}, err
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRunRecord)
	if errors.Is(err, pgx.ErrNoRows) {
		return r, ErrNotFound
	}
	return r, err
}

func scanRunRecord(row pgx.CollectableRow) (RunRecord, error) {
	var r RunRecord
	err := row.Scan(&r.UID, &r.Namespace, &r.Name, &r.Workflow, &r.Phase, &r.Trigger, &r.Endpoint, &r.InputDigest, &r.SpecDigest, &r.CreatedAt, &r.StartedAt, &r.FinishedAt)
	return r, err
}

// The cursor is the last row's position, opaque to clients.
func encodeRunCursor(at time.Time, uid string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + uid))
}

func decodeRunCursor(token string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return time.Time{}, "", ErrBadContinue
	}
	ts, uid, ok := strings.Cut(string(raw), "|")
	at, err := time.Parse(time.RFC3339Nano, ts)
	if !ok || err != nil || len(uid) != 36 {
		return time.Time{}, "", ErrBadContinue
	}
	return at, uid, nil
}
