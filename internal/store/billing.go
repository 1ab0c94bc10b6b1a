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
	ProcessedAt                *time.Time
	TenantUID, Tenant, Outcome string
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
// concerned, by UID and name ("" when none).
func (s *Store) FinishBillingEvent(ctx context.Context, id, tenantUID, tenant, outcome string) error {
	_, err := s.pool.Exec(ctx, `update billing_events set processed_at = now(), tenant_uid = $2, tenant = $3, outcome = $4 where id = $1`,
		id, tenantUID, tenant, outcome)
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
	err := s.pool.QueryRow(ctx, `select id, type, customer, created, processed_at, tenant_uid, tenant, outcome
		from billing_events where id = $1`, id).
		Scan(&e.ID, &e.Type, &e.Customer, &e.Created, &e.ProcessedAt, &e.TenantUID, &e.Tenant, &e.Outcome)
	if errors.Is(err, pgx.ErrNoRows) {
		return e, ErrNotFound
	}
	return e, err
}

// MaxEndedBillingSubscriptions is how many ended (deleted) subscriptions billing keeps per
// Tenant, newest first; older ones are forgotten. Live subscriptions are always kept.
const MaxEndedBillingSubscriptions = 16

// BillingSubscription is what billing keeps of one Stripe subscription of a Tenant.
type BillingSubscription struct {
	ID string
	// The newest event applied to the subscription, for display.
	LastEventCreated time.Time
	LastEventID      string
	// Ended: the subscription was deleted; nothing changes it any more.
	Ended bool
	// Record is the billing package's record of the subscription (JSON), opaque here.
	Record []byte
}

// ApplyTenantBilling serializes the application of Stripe events to one Tenant, by UID (a
// re-created Tenant of the same name starts with nothing). In one transaction, under the
// Tenant's billing lock, it calls apply with every subscription kept for the Tenant and
// stores what apply returns: the subscriptions it changed (inserted or replaced), the id of
// the subscription the Tenant's status shows, and the Tenant on the record of event
// eventID (so that DeleteTenantBilling, which takes the same lock, finds it). An error from
// apply rolls everything back; when apply changes nothing, nothing is stored.
func (s *Store) ApplyTenantBilling(ctx context.Context, tenantUID, tenantName, eventID string,
	apply func(ctx context.Context, kept []BillingSubscription) (changed []BillingSubscription, current string, err error)) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockTenantBilling(ctx, tx, tenantUID); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `select subscription_id, last_event_created, last_event_id, ended, record
			from billing_subscriptions where tenant_uid = $1 order by subscription_id`, tenantUID)
		if err != nil {
			return err
		}
		kept, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (BillingSubscription, error) {
			var b BillingSubscription
			err := r.Scan(&b.ID, &b.LastEventCreated, &b.LastEventID, &b.Ended, &b.Record)
			return b, err
		})
		if err != nil {
			return err
		}
		changed, current, err := apply(ctx, kept)
		if err != nil || len(changed) == 0 {
			return err
		}
		if _, err := tx.Exec(ctx, `insert into billing_tenants (tenant_uid, tenant, subscription_id) values ($1, $2, $3)
			on conflict (tenant_uid) do update set tenant = excluded.tenant, subscription_id = excluded.subscription_id, updated_at = now()`,
			tenantUID, tenantName, current); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `update billing_events set tenant_uid = $2, tenant = $3 where id = $1`, eventID, tenantUID, tenantName); err != nil {
			return err
		}
		for _, b := range changed {
			if _, err := tx.Exec(ctx, `insert into billing_subscriptions
				(tenant_uid, subscription_id, last_event_created, last_event_id, ended, record) values ($1, $2, $3, $4, $5, $6)
				on conflict (tenant_uid, subscription_id) do update set last_event_created = excluded.last_event_created,
				  last_event_id = excluded.last_event_id, ended = excluded.ended, record = excluded.record, updated_at = now()`,
				tenantUID, b.ID, b.LastEventCreated, b.LastEventID, b.Ended, b.Record); err != nil {
				return err
			}
		}
		_, err = tx.Exec(ctx, `delete from billing_subscriptions where tenant_uid = $1 and ended and subscription_id not in (
			select subscription_id from billing_subscriptions where tenant_uid = $1 and ended
			order by last_event_created desc, subscription_id desc limit $2)`, tenantUID, MaxEndedBillingSubscriptions)
		return err
	})
}

// lockTenantBilling takes the transaction-scoped lock that serializes a Tenant's billing.
func lockTenantBilling(ctx context.Context, tx pgx.Tx, tenantUID string) error {
	_, err := tx.Exec(ctx, `select pg_advisory_xact_lock(hashtextextended('aias-billing:' || $1, 0))`, tenantUID)
	return err
}

// DeleteTenantBilling deletes everything billing keeps for a Tenant, by UID: its
// subscriptions' records and the Stripe events recorded for it (the Tenant's finalizer
// calls it). It waits for an event being applied to the Tenant; billing applies nothing to
// a Tenant being deleted. A redelivery of a deleted event is processed as a new one.
func (s *Store) DeleteTenantBilling(ctx context.Context, tenantUID string) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if err := lockTenantBilling(ctx, tx, tenantUID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `delete from billing_tenants where tenant_uid = $1`, tenantUID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `delete from billing_events where tenant_uid = $1`, tenantUID)
		return err
	})
}
