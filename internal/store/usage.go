package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// RunClaim asks to count a starting Run against its tenant's runs-per-period limit.
// Claims and counters are keyed by the Tenant's UID, never its name: a new Tenant that
// reuses a deleted one's name starts from zero.
type RunClaim struct {
	RunUID, TenantUID string
	PeriodStart       time.Time
	// Limit is the most Runs the period allows; negative means no limit.
	Limit int64
}

// ClaimRun counts the Run in its tenant's period if the limit allows, atomically with
// every other claim: of 200 concurrent claims against a limit of 100, exactly 100 are
// granted. A Run claimed before is granted again without counting twice (a retried
// reconcile). It returns whether the Run may start and the period's count afterwards.
func (s *Store) ClaimRun(ctx context.Context, c RunClaim) (granted bool, runs int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `insert into run_claims (run_uid, tenant_uid, period_start) values ($1, $2, $3)
			on conflict (run_uid) do nothing`, c.RunUID, c.TenantUID, c.PeriodStart)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 { // claimed before: granted, counted then
			granted = true
			return tx.QueryRow(ctx, `select coalesce((select runs from tenant_usage where tenant_uid = $1 and period_start = $2), 0)`,
				c.TenantUID, c.PeriodStart).Scan(&runs)
		}
		// The upsert takes the counter row's lock, so concurrent claims line up here.
		err = tx.QueryRow(ctx, `
			insert into tenant_usage (tenant_uid, period_start, runs) values ($1, $2, 1)
			on conflict (tenant_uid, period_start) do update set runs = tenant_usage.runs + 1
			returning runs`, c.TenantUID, c.PeriodStart).Scan(&runs)
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

// TenantRuns is the number of Runs counted in the period of the Tenant with this UID.
func (s *Store) TenantRuns(ctx context.Context, tenantUID string, periodStart time.Time) (int64, error) {
	var runs int64
	err := s.pool.QueryRow(ctx, `select coalesce((select runs from tenant_usage where tenant_uid = $1 and period_start = $2), 0)`,
		tenantUID, periodStart).Scan(&runs)
	return runs, err
}

// AdoptLegacyRunClaims moves the claims counted under a tenant's name before migration
// 017 to the live Tenant of that name, and counts them under its UID. Only claims made
// since the Tenant's creation are its own; older ones belonged to an earlier Tenant of
// the same name and are deleted, not inherited. It reports how many claims it adopted;
// once a name's claims are moved it finds nothing (one index lookup).
//
// A Run claimed under the name and claimed again under the UID before the adoption (a
// retried reconcile in the moments after the upgrade) is counted once: the adopted claim
// conflicts on the Run's UID and is dropped.
func (s *Store) AdoptLegacyRunClaims(ctx context.Context, tenantName, tenantUID string, created time.Time) (int64, error) {
	var adopted int64
	err := s.pool.QueryRow(ctx, `
		with moved as (
		  delete from legacy_run_claims where tenant = $1 returning run_uid, period_start, claimed_at
		), adopted as (
		  insert into run_claims (run_uid, tenant_uid, period_start, claimed_at)
		  select run_uid, $2, period_start, claimed_at from moved where claimed_at >= $3
		  on conflict (run_uid) do nothing
		  returning period_start
		), counted as (
		  insert into tenant_usage (tenant_uid, period_start, runs)
		  select $2, period_start, count(*) from adopted group by period_start
		  on conflict (tenant_uid, period_start) do update set runs = tenant_usage.runs + excluded.runs
		)
		select count(*) from adopted`, tenantName, tenantUID, created).Scan(&adopted)
	return adopted, err
}

// DeleteTenantUsage deletes the run claims and usage counters of the Tenant with this UID
// (and any legacy claims left under its name), when the Tenant is deleted.
func (s *Store) DeleteTenantUsage(ctx context.Context, tenantName, tenantUID string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		for _, q := range []struct {
			sql string
			arg string
		}{
			{`delete from run_claims where tenant_uid = $1`, tenantUID},
			{`delete from tenant_usage where tenant_uid = $1`, tenantUID},
			{`delete from legacy_run_claims where tenant = $1`, tenantName},
		} {
			if _, err := tx.Exec(ctx, q.sql, q.arg); err != nil {
				return err
			}
		}
		return nil
	})
}

// PurgeUsage deletes up to limit run claims, and the usage counters, of billing periods
// that started before before.
func (s *Store) PurgeUsage(ctx context.Context, before time.Time, limit int) (int64, error) {
	var n int64
	for _, q := range []string{
		`delete from run_claims where run_uid in (select run_uid from run_claims where period_start < $1 limit $2)`,
		`delete from legacy_run_claims where run_uid in (select run_uid from legacy_run_claims where period_start < $1 limit $2)`,
		`delete from tenant_usage where (tenant_uid, period_start) in
		   (select tenant_uid, period_start from tenant_usage where period_start < $1 limit $2)`,
	} {
		tag, err := s.pool.Exec(ctx, q, before, limit)
		if err != nil {
			return n, err
		}
		n += tag.RowsAffected()
	}
	return n, nil
}
