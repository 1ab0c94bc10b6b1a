package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// BillingEvent is a Stripe event as recorded in billing_events.
type BillingEvent struct {
	ID, Type, Customer string
	Created            time.Time
	// Set once processed.
	ProcessedAt     *time.Time
	Tenant, Outcome string
}

// DefaultBillingClaimTimeout is how long an unprocessed claim blocks redeliveries before
// it is considered abandoned (its processor died) and may be claimed again.
const DefaultBillingClaimTimeout = 2 * time.Minute

// ClaimBillingEvent records a received event and claims it for processing. It returns
// false when the event is already recorded: processed, or claimed by a concurrent delivery
// less than claimTimeout ago. A claim older than claimTimeout that never finished is taken
// over. Exactly one of several concurrent callers wins.
func (s *Store) ClaimBillingEvent(ctx context.Context, e BillingEvent, claimTimeout time.Duration) (bool, error) {
	if claimTimeout <= 0 {
		claimTimeout = DefaultBillingClaimTimeout
	}
	var id string
	err := s.pool.QueryRow(ctx, `
		insert into billing_events (id, type, customer, created) values ($1, $2, $3, $4)
		on conflict (id) do update set received_at = now()
		  where billing_events.processed_at is null
		    and billing_events.received_at < now() - $5 * interval '1 millisecond'
		returning id`, e.ID, e.Type, e.Customer, e.Created, claimTimeout.Milliseconds()).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// FinishBillingEvent marks a claimed event processed with its outcome and the Tenant it
// concerned ("" when none).
func (s *Store) FinishBillingEvent(ctx context.Context, id, tenant, outcome string) error {
	_, err := s.pool.Exec(ctx, `update billing_events set processed_at = now(), tenant = $2, outcome = $3 where id = $1`,
		id, tenant, outcome)
	return err
}

// ReleaseBillingEvent drops an unprocessed claim so that a redelivery processes the event.
func (s *Store) ReleaseBillingEvent(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `delete from billing_events where id = $1 and processed_at is null`, id)
	return err
}

// GetBillingEvent returns the recorded event with id, or ErrNotFound.
func (s *Store) GetBillingEvent(ctx context.Context, id string) (BillingEvent, error) {
	var e BillingEvent
	err := s.pool.QueryRow(ctx, `select id, type, customer, created, processed_at, tenant, outcome
		from billing_events where id = $1`, id).
		Scan(&e.ID, &e.Type, &e.Customer, &e.Created, &e.ProcessedAt, &e.Tenant, &e.Outcome)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// ApplyTenantBilling serializes the application of Stripe events to one Tenant. It locks
// the tenant's row and, unless an event created after `created` was already applied
// (stale is then true and apply is not called), runs apply. When apply reports that it
// changed the Tenant, the tenant's newest applied event becomes this one (with the
// subscription it wrote, for the record). Events created in the same second are not
// stale to each other: Stripe's timestamps have one-second resolution.
func (s *Store) ApplyTenantBilling(ctx context.Context, tenant, eventID string, created time.Time,
	apply func(context.Context) (changed bool, subscription any, err error)) (stale bool, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `insert into tenant_subscriptions (tenant) values ($1) on conflict do nothing`, tenant); err != nil {
			return err
		}
		var last *time.Time
		if err := tx.QueryRow(ctx, `select event_created from tenant_subscriptions where tenant = $1 for update`, tenant).Scan(&last); err != nil {
			return err
		}
		if last != nil && created.Before(*last) {
			stale = true
			return nil
		}
		changed, sub, err := apply(ctx)
		if err != nil || !changed {
			return err
		}
		_, err = tx.Exec(ctx, `update tenant_subscriptions set event_created = $2, event_id = $3, subscription = $4, updated_at = now()
			where tenant = $1`, tenant, created, eventID, sub)
		return err
	})
	return stale, err
}

// DeleteTenantBilling forgets a tenant's billing ordering state (when the Tenant is deleted).
func (s *Store) DeleteTenantBilling(ctx context.Context, tenant string) error {
	_, err := s.pool.Exec(ctx, `delete from tenant_subscriptions where tenant = $1`, tenant)
	return err
}
