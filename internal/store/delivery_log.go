package store

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// LoggedDelivery is one row of the delivery log (migration 013).
type LoggedDelivery struct {
	ID                  int64
	Namespace, Endpoint string
	EndpointUID         string
	ReceivedAt          time.Time
	// Verified rows are one delivery each; unverified ones count the deliveries of one
	// minute with the same outcome and status (Count), and carry no id or digest.
	Verified   bool
	DeliveryID string
	Outcome    string
	Reason     string
	Status     int
	BodySize   int64
	BodySHA256 []byte
	RunName    string
	Count      int
	// Body, ContentType and Headers (those an endpoint's expressions see) are kept for a
	// verified delivery until BodyExpiresAt, so that it can be redelivered; nil after.
	Body          []byte
	ContentType   string
	Headers       map[string]string
	BodyExpiresAt *time.Time
	// BodyBudget, when set, is the tenant plan's deliveryLogBytes: once this row is
	// written, the namespace's oldest bodies are dropped until its kept bodies fit.
	BodyBudget *int64
	// Redeliverable: the body is still kept (lists only).
	Redeliverable bool
}

// LogDelivery appends d to the delivery log, batched with concurrent rows and marks
// (delivery_notes.go) and without waiting for the disk: the log is for people, the
// ledger is what deduplicates.
// An unverified delivery is folded into its minute's count.
func (s *Store) LogDelivery(ctx context.Context, d LoggedDelivery) error {
	_, err := s.notes.submit(ctx, deliveryNote{log: foldUnverified(&d)})
	return err
}

// foldUnverified keeps of an unverified delivery only what its minute's count row holds.
func foldUnverified(d *LoggedDelivery) *LoggedDelivery {
	if !d.Verified {
		d.ReceivedAt = d.ReceivedAt.UTC().Truncate(time.Minute)
		d.DeliveryID, d.BodySHA256, d.RunName = "", nil, ""
		d.Body, d.Headers, d.BodyExpiresAt = nil, nil, nil
	}
	return d
}

// DeliveryLogPage is one page of an endpoint's log, newest first.
type DeliveryLogPage struct {
	Deliveries []LoggedDelivery
	Continue   string
}

// ListDeliveryLog pages through an endpoint's log newest first, keyset on
// (received_at, id) like ListRuns. The endpoint is named by its UID, never its name: an
// endpoint deleted and created again under the same name lists none of the previous
// one's deliveries.
func (s *Store) ListDeliveryLog(ctx context.Context, endpointUID string, limit int, continueToken string) (DeliveryLogPage, error) {
	args := []any{endpointUID, limit + 1}
	cond := ""
	if continueToken != "" {
		at, id, err := decodeLogCursor(continueToken)
		if err != nil {
			return DeliveryLogPage{}, err
		}
		args = append(args, at, id)
		cond = " and (received_at, id) < ($3, $4)"
	}
	rows, err := s.pool.Query(ctx, `
		select id, namespace, endpoint, endpoint_uid, received_at, verified, delivery_id, outcome, reason, status, body_size,
		  body_sha256, run_name, count, content_type, body_expires_at, (body is not null and body_expires_at > now())
		from delivery_log where endpoint_uid = $1`+cond+`
		order by received_at desc, id desc limit $2`, args...)
	if err != nil {
		return DeliveryLogPage{}, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LoggedDelivery, error) {
		var d LoggedDelivery
		err := row.Scan(&d.ID, &d.Namespace, &d.Endpoint, &d.EndpointUID, &d.ReceivedAt, &d.Verified, &d.DeliveryID, &d.Outcome,
			&d.Reason, &d.Status, &d.BodySize, &d.BodySHA256, &d.RunName, &d.Count, &d.ContentType, &d.BodyExpiresAt, &d.Redeliverable)
		return d, err
	})
	if err != nil {
		return DeliveryLogPage{}, err
	}
	page := DeliveryLogPage{Deliveries: list}
	if len(list) > limit {
		page.Deliveries = list[:limit]
		last := list[limit-1]
		page.Continue = encodeLogCursor(last.ReceivedAt, last.ID)
	}
	return page, nil
}

// StoredDelivery returns one verified delivery of the log of the endpoint with this UID,
// with its body, or ErrNotFound when there is none or its body is no longer kept (at now).
func (s *Store) StoredDelivery(ctx context.Context, endpointUID string, id int64, now time.Time) (LoggedDelivery, error) {
	var d LoggedDelivery
	err := s.pool.QueryRow(ctx, `
		select id, namespace, endpoint, endpoint_uid, received_at, delivery_id, outcome, status, body_size, body_sha256, run_name,
		  body, content_type, headers, body_expires_at
		from delivery_log where id = $1 and endpoint_uid = $2 and verified and body is not null and body_expires_at > $3`,
		id, endpointUID, now).Scan(&d.ID, &d.Namespace, &d.Endpoint, &d.EndpointUID, &d.ReceivedAt, &d.DeliveryID, &d.Outcome,
		&d.Status, &d.BodySize, &d.BodySHA256, &d.RunName, &d.Body, &d.ContentType, &d.Headers, &d.BodyExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	d.Verified = true
	return d, err
}

// DeliveryLogBytes is the bytes of delivery bodies a namespace's delivery log keeps.
func (s *Store) DeliveryLogBytes(ctx context.Context, namespace string) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `select coalesce((select bytes from delivery_log_bytes where namespace = $1), 0)`, namespace).Scan(&n)
	return n, err
}

// maxTrimScan bounds the rows one trim looks at: a namespace far over its budget (a
// budget just lowered) is brought under it over a few writes, each one quick.
const maxTrimScan = 5000

// queueTrim drops the namespace's oldest bodies until what it keeps fits budget.
func queueTrim(b *pgx.Batch, namespace string, budget int64) {
	b.Queue(`
		with over as (
		  select bytes - $2 as excess from delivery_log_bytes where namespace = $1 and bytes > $2
		), oldest as (
		  select id, sum(body_size) over (order by received_at, id) - body_size as before
		  from (select id, body_size, received_at from delivery_log
		        where namespace = $1 and body is not null order by received_at, id limit $3) c
		)
		update delivery_log set body = null, headers = null
		where id in (select oldest.id from oldest, over where oldest.before < over.excess)`,
		namespace, budget, maxTrimScan)
}

// PurgeDeliveryBodies drops up to limit bodies whose retention ended before now.
func (s *Store) PurgeDeliveryBodies(ctx context.Context, now time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `update delivery_log set body = null, headers = null where id in (
		select id from delivery_log where body is not null and body_expires_at <= $1 order by body_expires_at limit $2 for update skip locked)`, now, limit)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// PurgeDeliveryLog deletes up to limit rows received before before.
func (s *Store) PurgeDeliveryLog(ctx context.Context, before time.Time, limit int) (int64, error) {
	tag, err := s.pool.Exec(ctx, `delete from delivery_log where id in (
		select id from delivery_log where received_at < $1 order by received_at limit $2 for update skip locked)`, before, limit)
	if err != nil {
		return 0, err
	}
	return tag.RowsAffected(), nil
}

// DeleteEndpointDeliveries deletes up to limit rows of the delivery log of the endpoint
// with this UID (their bodies with them) and up to limit of its delivery-ledger rows, and
// reports how many; the WebhookEndpoint finalizer calls it until it reports fewer than
// limit. Rows the hook listener writes for the endpoint after that (a delivery in flight
// when it was deleted) carry the dead UID, which no endpoint lists, and are purged with
// the rest by age (PurgeDeliveryLog, PurgeDeliveryBodies, PurgeDeliveries).
func (s *Store) DeleteEndpointDeliveries(ctx context.Context, endpointUID string, limit int) (int64, error) {
	var n int64
	for _, q := range []string{
		`delete from delivery_log where id in (select id from delivery_log where endpoint_uid = $1 limit $2)`,
		`delete from deliveries where (endpoint_uid, delivery_id) in
		   (select endpoint_uid, delivery_id from deliveries where endpoint_uid = $1 limit $2)`,
	} {
		tag, err := s.pool.Exec(ctx, q, endpointUID, limit)
		if err != nil {
			return n, err
		}
		n += tag.RowsAffected()
	}
	return n, nil
}

func encodeLogCursor(at time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(at.UTC().Format(time.RFC3339Nano) + "|" + strconv.FormatInt(id, 10)))
}

func decodeLogCursor(token string) (time.Time, int64, error) {
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil {
		return time.Time{}, 0, ErrBadContinue
	}
	ts, idText, ok := strings.Cut(string(raw), "|")
	at, err1 := time.Parse(time.RFC3339Nano, ts)
	id, err2 := strconv.ParseInt(idText, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return time.Time{}, 0, fmt.Errorf("%w", ErrBadContinue)
	}
	return at, id, nil
}
