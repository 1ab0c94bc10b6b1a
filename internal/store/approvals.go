package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Approval is a decision on one approval gate of a Run.
type Approval struct {
	RunUID, Namespace, Step string
	// Decision is "Approved" or "Rejected" (aiasv1alpha1.ApprovalApproved, ...).
	Decision  string
	By        string
	Comment   string
	DecidedAt time.Time
}

// ErrAlreadyDecided: the gate has a decision already (the one returned).
var ErrAlreadyDecided = errors.New("the approval gate was decided already")

// RecordApproval stores a decision on a gate unless one is there: the first decision
// wins, and a second gets ErrAlreadyDecided with the first. A deleted Run gets
// ErrRunGone (the write holds the Run's lock shared, as the step API's do).
func (s *Store) RecordApproval(ctx context.Context, a Approval) (Approval, error) {
	var out Approval
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := guardRun(ctx, tx, a.RunUID); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `
			insert into approvals (run_uid, namespace, step, decision, decided_by, comment)
			values ($1, $2, $3, $4, $5, $6) on conflict (run_uid, step) do nothing`,
			a.RunUID, a.Namespace, a.Step, a.Decision, a.By, a.Comment)
		if err != nil {
			return err
		}
		row := tx.QueryRow(ctx, `select run_uid::text, namespace, step, decision, decided_by, comment, decided_at
			from approvals where run_uid = $1 and step = $2`, a.RunUID, a.Step)
		if err := row.Scan(&out.RunUID, &out.Namespace, &out.Step, &out.Decision, &out.By, &out.Comment, &out.DecidedAt); err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrAlreadyDecided
		}
		return nil
	})
	return out, err
}

// Approvals are the decisions on a Run's gates, by step.
func (s *Store) Approvals(ctx context.Context, runUID string) (map[string]Approval, error) {
	rows, err := s.pool.Query(ctx, `select run_uid::text, namespace, step, decision, decided_by, comment, decided_at
		from approvals where run_uid = $1`, runUID)
	if err != nil {
		return nil, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Approval, error) {
		var a Approval
		err := row.Scan(&a.RunUID, &a.Namespace, &a.Step, &a.Decision, &a.By, &a.Comment, &a.DecidedAt)
		return a, err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]Approval, len(list))
	for _, a := range list {
		out[a.Step] = a
	}
	return out, nil
}
