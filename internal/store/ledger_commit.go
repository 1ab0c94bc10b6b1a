package store

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// The delivery ledger's insert is group committed (groupcommit.go): at ingest rates the
// per-delivery commit, not the row, is what costs. Its second write, the mark, goes with
// the delivery log's rows (delivery_notes.go).
const ledgerMaxItems = 64

type deliveryKey struct{ endpointUID, deliveryID string }

type (
	// ledgerCommitter inserts new deliveries; the result says whether this one's row was
	// inserted (false: another row kept it out, see RecordDelivery).
	ledgerCommitter = groupCommitter[Delivery, bool]
)

func newLedgerCommitter(s *Store) *ledgerCommitter {
	return &ledgerCommitter{
		exec: func(ctx context.Context, batch []*groupItem[Delivery, bool]) error {
			ds := make([]Delivery, len(batch))
			for i, it := range batch {
				ds[i] = it.in
			}
			inserted, err := s.insertDeliveries(ctx, ds)
			if err != nil {
				return err
			}
			for _, it := range batch {
				it.resolve(inserted[deliveryKey{it.in.EndpointUID, it.in.DeliveryID}], nil)
			}
			return nil
		},
		// The same delivery twice in one insert would both read as inserted.
		key:      func(d Delivery) any { return deliveryKey{d.EndpointUID, d.DeliveryID} },
		maxItems: ledgerMaxItems,
		alone:    isDeadlock,
	}
}

// isDeadlock reports PostgreSQL's deadlock_detected: two batches whose rows meet in both
// of the ledger's unique indexes (delivery id and body) can wait on each other.
func isDeadlock(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "40P01"
}

// insertDeliveries inserts ds as pending in one statement (and one durable commit) and
// reports which of them it inserted; a row kept out by an existing one (same delivery id,
// or the same body under DedupByBody) is not. Rows go in body order, so that two batches
// meeting on bodies lock them in the same order (for the rarer crossings a deadlock is
// possible; the committer then writes the batch one row at a time).
func (s *Store) insertDeliveries(ctx context.Context, ds []Delivery) (map[deliveryKey]bool, error) {
	n := len(ds)
	var (
		uids, ids, namespaces, endpoints, runNames = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		sums, bodyKeys                             = make([][]byte, n), make([][]byte, n)
		sizes                                      = make([]int64, n)
		received                                   = make([]time.Time, n)
		windows                                    = make([]float64, n)
	)
	for i, d := range ds {
		uids[i], ids[i], namespaces[i], endpoints[i], runNames[i] = d.EndpointUID, d.DeliveryID, d.Namespace, d.Endpoint, d.RunName
		sums[i] = d.BodySHA256[:]
		if d.DedupByBody {
			bodyKeys[i] = d.BodySHA256[:]
		}
		sizes[i], received[i], windows[i] = d.BodySize, d.ReceivedAt, d.Window.Seconds()
	}
	rows, err := s.pool.Query(ctx, `
		insert into deliveries (endpoint_uid, delivery_id, body_sha256, body_key, body_size, namespace, endpoint,
		  run_name, outcome, received_at, expires_at)
		select endpoint_uid, delivery_id, body_sha256, body_key, body_size, namespace, endpoint, run_name, $10,
		  received_at, received_at + make_interval(secs => window_seconds)
		from unnest($1::text[], $2::text[], $3::bytea[], $4::bytea[], $5::bigint[], $6::text[], $7::text[], $8::text[],
		  $9::timestamptz[], $11::float8[])
		  with ordinality as t(endpoint_uid, delivery_id, body_sha256, body_key, body_size, namespace, endpoint, run_name,
		  received_at, window_seconds, ord)
		order by body_key nulls last, endpoint_uid, delivery_id, ord
		on conflict do nothing
		returning endpoint_uid, delivery_id`,
		uids, ids, sums, bodyKeys, sizes, namespaces, endpoints, runNames, received, DeliveryPending, windows)
	if err != nil {
		return nil, err
	}
	inserted := make(map[deliveryKey]bool, n)
	var k deliveryKey
	_, err = pgx.ForEachRow(rows, []any{&k.endpointUID, &k.deliveryID}, func() error {
		inserted[k] = true
		return nil
	})
	return inserted, err
}
