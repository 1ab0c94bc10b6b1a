package store

import (
	"context"
	"crypto/sha256"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
)

// Delivery is one verified delivery in the ledger.
type Delivery struct {
	EndpointUID, DeliveryID string
	Namespace, Endpoint     string
	// Body is only hashed; the ledger never holds a payload.
	BodySHA256 [sha256.Size]byte
	BodySize   int64
	// DedupByBody makes the body's digest a key of its own for the endpoint: a second
	// delivery of the same body within the window is this delivery, whatever id it
	// claims. Set it for schemes whose signature covers neither a timestamp nor the
	// delivery id (internal/signature's Config.ReplayableID).
	DedupByBody bool
	// RunName is the Run this delivery creates.
	RunName    string
	ReceivedAt time.Time
	// Window is how long the row is kept: a redelivery within it is answered from the
	// ledger.
	Window time.Duration
}

// Delivery outcomes in the ledger.
const (
	// DeliveryPending: recorded; its Run may or may not have been created (the process
	// may have stopped in between). A redelivery creates it, idempotently by name.
	DeliveryPending = "pending"
	// DeliveryCreated: the Run was created, or found to exist, for this delivery. A
	// redelivery must not create it again even when it no longer exists (pruned by
	// spec.history, deleted by a user).
	DeliveryCreated = "created"
)

// RecordedDelivery is what the ledger holds for a delivery that was already recorded.
type RecordedDelivery struct {
	DeliveryID, RunName, Outcome string
	ReceivedAt                   time.Time
}

// RecordDelivery records d before its Run is created. It returns nil when d is new;
// otherwise the unexpired row d repeats — same delivery id, or (DedupByBody) same body
// — which the caller answers from. Expired rows are replaced as if absent. Concurrent
// calls for the same delivery agree: exactly one of them gets nil.
//
// New deliveries, the common case, are group committed (ledger_commit.go): concurrent
// deliveries share one insert and one durable commit. Only a delivery whose row was kept
// out by another takes the slower path here.
func (s *Store) RecordDelivery(ctx context.Context, d Delivery) (*RecordedDelivery, error) {
	inserted, err := s.ledger.submit(ctx, d)
	if err != nil || inserted {
		return nil, err
	}
	var bodyKey []byte
	if d.DedupByBody {
		bodyKey = d.BodySHA256[:]
	}
	for range 3 {
		prev, expired, err := s.conflictingDelivery(ctx, d.EndpointUID, d.DeliveryID, bodyKey, d.ReceivedAt)
		switch {
		case err != nil:
			return nil, err
		case prev != nil && !expired:
			return prev, nil
		case prev != nil:
			// Past its window: the row no longer speaks for the delivery. Drop it (only
			// if still expired: a concurrent call may have replaced it) and try again.
			if _, err := s.pool.Exec(ctx, `delete from deliveries where endpoint_uid = $1 and delivery_id = $2 and expires_at <= $3`,
				d.EndpointUID, prev.DeliveryID, d.ReceivedAt); err != nil {
				return nil, err
			}
		}
		// No row found: the conflicting one was deleted between the two statements.
		inserted, err := s.insertDeliveries(ctx, []Delivery{d})
		if err != nil {
			return nil, err
		}
		if inserted[deliveryKey{d.EndpointUID, d.DeliveryID}] {
			return nil, nil
		}
	}
	return nil, errors.New("recording the delivery: the ledger kept changing under it")
}

// conflictingDelivery finds the row that kept an insert out: the delivery id's own row
// first, else the body's.
func (s *Store) conflictingDelivery(ctx context.Context, endpointUID, deliveryID string, bodyKey []byte, now time.Time) (*RecordedDelivery, bool, error) {
	var r RecordedDelivery
	var expires time.Time
	err := s.pool.QueryRow(ctx, `
		select delivery_id, run_name, outcome, received_at, expires_at from deliveries
		where endpoint_uid = $1 and (delivery_id = $2 or body_key = $3)
		order by (delivery_id = $2) desc limit 1`, endpointUID, deliveryID, bodyKey).
		Scan(&r.DeliveryID, &r.RunName, &r.Outcome, &r.ReceivedAt, &expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return &r, !expires.After(now), nil
}

// MarkDeliveryCreated records that the delivery's Run exists. It is committed without
// waiting for the disk (synchronous_commit off) and batched with concurrent marks and
// delivery-log rows (delivery_notes.go): losing it in a database crash only leaves the
// row pending, which a redelivery resolves by creating the Run by name (AlreadyExists) —
// never a second Run — and the Run controller marks it durably when it indexes the Run,
// so the delivery path pays one durable commit.
func (s *Store) MarkDeliveryCreated(ctx context.Context, endpointUID, deliveryID string) error {
	_, err := s.notes.submit(ctx, deliveryNote{mark: &deliveryKey{endpointUID, deliveryID}})
	return err
}

// PurgeDeliveries deletes up to limit rows whose window ended before now and reports
// how many it deleted. Any replica may call it; calls do not conflict.
func (s *Store) PurgeDeliveries(ctx context.Context, now time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `
		delete from deliveries where ctid in (
		  select ctid from deliveries where expires_at <= $1 order by expires_at limit $2 for update skip locked)`, now, limit)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}
