package store

import (
	"context"
	"encoding/base64"
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
}

// logMaxItems bounds a batch of log rows.
const logMaxItems = 128

type logCommitter = groupCommitter[LoggedDelivery, struct{}]

func newLogCommitter(s *Store) *logCommitter {
	return &logCommitter{
		exec: func(ctx context.Context, batch []*groupItem[LoggedDelivery, struct{}]) error {
			rows := make([]LoggedDelivery, len(batch))
			for i, it := range batch {
				rows[i] = it.in
			}
			if err := s.insertDeliveryLog(ctx, rows); err != nil {
				return err
			}
			for _, it := range batch {
				it.resolve(struct{}{}, nil)
			}
			return nil
		},
		maxItems: logMaxItems,
	}
}

// LogDelivery appends d to the delivery log, group committed with concurrent ones and
// without waiting for the disk: the log is for people, the ledger is what deduplicates.
// An unverified delivery is folded into its minute's count.
func (s *Store) LogDelivery(ctx context.Context, d LoggedDelivery) error {
	if !d.Verified {
		d.ReceivedAt = d.ReceivedAt.UTC().Truncate(time.Minute)
		d.DeliveryID, d.BodySHA256, d.RunName = "", nil, ""
	}
	_, err := s.log.submit(ctx, d)
	return err
}

func (s *Store) insertDeliveryLog(ctx context.Context, rows []LoggedDelivery) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `set local synchronous_commit = off`); err != nil {
			return err
		}
		b := &pgx.Batch{}
		for _, d := range rows {
			if d.Verified {
				b.Queue(`insert into delivery_log (namespace, endpoint, endpoint_uid, received_at, verified, delivery_id, outcome, reason,
					status, body_size, body_sha256, run_name) values ($1, $2, $3, $4, true, $5, $6, $7, $8, $9, $10, $11)`,
					d.Namespace, d.Endpoint, d.EndpointUID, d.ReceivedAt, d.DeliveryID, d.Outcome, d.Reason, d.Status, d.BodySize, d.BodySHA256, d.RunName)
				continue
			}
			b.Queue(`insert into delivery_log (namespace, endpoint, endpoint_uid, received_at, verified, outcome, reason, status, body_size)
				values ($1, $2, $3, $4, false, $5, $6, $7, $8)
				on conflict (endpoint_uid, received_at, outcome, status) where not verified
				do update set count = delivery_log.count + 1, body_size = delivery_log.body_size + excluded.body_size, reason = excluded.reason`,
				d.Namespace, d.Endpoint, d.EndpointUID, d.ReceivedAt, d.Outcome, d.Reason, d.Status, d.BodySize)
		}
		return tx.SendBatch(ctx, b).Close()
	})
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
		  body_sha256, run_name, count
		from delivery_log where namespace = $1 and endpoint = $2`+cond+`
		order by received_at desc, id desc limit $3`, args...)
	if err != nil {
		return DeliveryLogPage{}, err
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (LoggedDelivery, error) {
		var d LoggedDelivery
		err := row.Scan(&d.ID, &d.Namespace, &d.Endpoint, &d.EndpointUID, &d.ReceivedAt, &d.Verified, &d.DeliveryID, &d.Outcome,
			&d.Reason, &d.Status, &d.BodySize, &d.BodySHA256, &d.RunName, &d.Count)
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
