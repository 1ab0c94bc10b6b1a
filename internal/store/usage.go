package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunClaim asks to count a starting Run against its tenant's runs-per-period limit.
type RunClaim struct {
	RunUID, Tenant string
	PeriodStart    time.Time
	// Limit is the most Runs the period allows; negative means no limit.
	Limit int64
}

// ClaimRun counts the Run in its tenant's period if the limit allows, atomically with
// every other claim: of 200 concurrent claims against a limit of 100, exactly 100 are
// granted. A Run claimed before is granted again without counting twice (a retried
// reconcile). It returns whether the Run may start and the period's count afterwards.
func (s *Store) ClaimRun(ctx context.Context, c RunClaim) (granted bool, runs int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `insert into run_claims (run_uid, tenant, period_start) values ($1, $2, $3)
			on conflict (run_uid) do nothing`, c.RunUID, c.Tenant, c.PeriodStart)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 { // claimed before: granted, counted then
			granted = true
			return tx.QueryRow(ctx, `select coalesce((select runs from tenant_usage where tenant = $1 and period_start = $2), 0)`,
				c.Tenant, c.PeriodStart).Scan(&runs)
		}
		// The upsert takes the counter row's lock, so concurrent claims line up here.
		err = tx.QueryRow(ctx, `
			insert into tenant_usage (tenant, period_start, runs) values ($1, $2, 1)
			on conflict (tenant, period_start) do update set runs = tenant_usage.runs + 1
			returning runs`, c.Tenant, c.PeriodStart).Scan(&runs)
		if err != nil {
			return err
		}
		if c.Limit >= 0 && runs > c.Limit {
			runs--
			return errOverLimit // rolls back both the claim and the increment
		}
		granted = true
		return nil
	})
	if errors.Is(err, errOverLimit) {
		return false, runs, nil
	}
	return granted, runs, err
}

var errOverLimit = errors.New("over the limit")

// TenantRuns is the number of Runs counted in a tenant's period.
func (s *Store) TenantRuns(ctx context.Context, tenant string, periodStart time.Time) (int64, error) {
	var runs int64
	err := s.pool.QueryRow(ctx, `select coalesce((select runs from tenant_usage where tenant = $1 and period_start = $2), 0)`,
		tenant, periodStart).Scan(&runs)
	return runs, err
}
