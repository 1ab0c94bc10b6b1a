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
	// Redeliverable: the body is still kept (lists only).
	Redeliverable bool
}

// LogDelivery appends d to the delivery log, batched with concurrent rows and marks
// (delivery_notes.go) and without waiting for the disk: the log is for people, the
// ledger is what deduplicates.
// An unverified delivery is folded into its minute's count.
func (s *Store) LogDelivery(ctx context.Context, d LoggedDelivery) error {
	if !d.Verified {
		d.ReceivedAt = d.ReceivedAt.UTC().Truncate(time.Minute)
		d.DeliveryID, d.BodySHA256, d.RunName = "", nil, ""
		d.Body, d.Headers, d.BodyExpiresAt = nil, nil, nil
	}
	_, err := s.notes.submit(ctx, deliveryNote{log: &d})
	return err
}

// DeliveryLogPage is one page of an endpoint's log, newest first.
type DeliveryLogPage struct {
	Deliveries []LoggedDelivery
	Continue   string
}

// ListDeliveryLog pages through an endpoint's log newest first, keyset on
// (received_at, id) like ListRuns.
func (s *Store) ListDeliveryLog(ctx context.Context, namespace, endpoint string, limit int, continueToken string) (DeliveryLogPage, error) {
	args := []any{namespace, endpoint, limit + 1}
	cond := ""
	if continueToken != "" {
		at, id, err := decodeLogCursor(continueToken)
		if err != nil {
			return DeliveryLogPage{}, err
		}
		args = append(args, at, id)
		cond = " and (received_at, id) < ($4, $5)"
	}
	rows, err := s.pool.Query(ctx, `
		select id, namespace, endpoint, endpoint_uid, received_at, verified, delivery_id, outcome, reason, status, body_size,
		  body_sha256, run_name, count, content_type, body_expires_at, (body is not null and body_expires_at > now())
		from delivery_log where namespace = $1 and endpoint = $2`+cond+`
		order by received_at desc, id desc limit $3`, args...)
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

// StoredDelivery returns one verified delivery of the endpoint's log with its body, or
// ErrNotFound when there is none or its body is no longer kept (at now).
func (s *Store) StoredDelivery(ctx context.Context, namespace, endpoint string, id int64, now time.Time) (LoggedDelivery, error) {
	var d LoggedDelivery
	err := s.pool.QueryRow(ctx, `
		select id, namespace, endpoint, endpoint_uid, received_at, delivery_id, outcome, status, body_size, body_sha256, run_name,
		  body, content_type, headers, body_expires_at
		from delivery_log where id = $1 and namespace = $2 and endpoint = $3 and verified and body is not null and body_expires_at > $4`,
		id, namespace, endpoint, now).Scan(&d.ID, &d.Namespace, &d.Endpoint, &d.EndpointUID, &d.ReceivedAt, &d.DeliveryID, &d.Outcome,
		&d.Status, &d.BodySize, &d.BodySHA256, &d.RunName, &d.Body, &d.ContentType, &d.Headers, &d.BodyExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, ErrNotFound
	}
	d.Verified = true
	return d, err
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
