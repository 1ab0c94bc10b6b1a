package store

import (
	"context"
	"errors"
	"maps"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
)

// What the hook listener writes after it has answered a delivery — the ledger's mark
// (MarkDeliveryCreated) and the delivery log's row (LogDelivery) — shares one committer:
// nobody waits on these writes, so they are batched for the fewest round trips rather
// than the lowest latency. A batch is one pipelined round trip (pgx.Batch: the
// statements up to its Sync run as one implicit transaction), committed without waiting
// for the disk. Measured with make bench (BENCHMARKS.md, webhook ingress): the two
// writes as separate transactions (begin, set, statement, commit: four round trips each,
// a log row one statement of its own) cost the listener and PostgreSQL more CPU per
// delivery than the ledger's insert and the Run create's JSON together.
const (
	// DefaultNoteQueueItems and DefaultNoteQueueBytes bound the notes waiting to be
	// written (EnqueueDeliveryLog, EnqueueDeliveryMark) when SetNoteQueue sets no other.
	DefaultNoteQueueItems = 20_000
	DefaultNoteQueueBytes = 16 << 20

	notesMaxItems = 256
	// notesLinger lets the notes of deliveries answered together share a batch; the
	// delivery log shows a delivery this much later, which nobody can tell.
	notesLinger = 5 * time.Millisecond
)

// deliveryNote is one of the two writes; exactly one field is set.
type deliveryNote struct {
	mark *deliveryKey
	log  *LoggedDelivery
}

// noteOverhead is what a note holds besides a body: names, ids, headers.
const noteOverhead = 512

// bytes is what a queued note holds in memory, roughly.
func (n deliveryNote) bytes() int {
	if n.log == nil {
		return noteOverhead
	}
	size := noteOverhead + len(n.log.Body)
	for k, v := range n.log.Headers {
		size += len(k) + len(v)
	}
	return size
}

// NoteQueue bounds the queue of delivery notes nobody waits for.
type NoteQueue struct {
	// Items and Bytes cap what the queue holds; past either, EnqueueDeliveryLog and
	// EnqueueDeliveryMark answer ErrQueueFull. Zero keeps the default.
	Items, Bytes int
	// Failed hears of every enqueued note that could not be written (nobody else does).
	Failed func(kind string, err error)
}

// SetNoteQueue bounds the queue of delivery notes; call it before the first note.
func (s *Store) SetNoteQueue(q NoteQueue) {
	if q.Items > 0 {
		s.notes.maxQueued = q.Items
	}
	if q.Bytes > 0 {
		s.notes.maxQueuedBytes = q.Bytes
	}
	if q.Failed != nil {
		s.notes.failed = func(n deliveryNote, err error) {
			kind := "mark"
			if n.log != nil {
				kind = "log"
			}
			q.Failed(kind, err)
		}
	}
}

// EnqueueDeliveryLog queues d for the delivery log (LogDelivery without waiting), or
// refuses it at once with ErrQueueFull.
// A row whose body the queue has no room for is queued without it (the delivery is not
// redeliverable; its row, digest and outcome are kept): a delivery is never refused for
// the size of a body kept only in case it is redelivered.
func (s *Store) EnqueueDeliveryLog(d LoggedDelivery) error {
	err := s.notes.enqueue(deliveryNote{log: foldUnverified(&d)})
	if errors.Is(err, ErrQueueFull) && d.Body != nil {
		d.Body, d.Headers, d.BodyExpiresAt = nil, nil, nil
		err = s.notes.enqueue(deliveryNote{log: &d})
	}
	return err
}

// MaxLoggedBodyBytes is the largest delivery body the log's queue takes with its row:
// half the queue's bytes, so that one body never fills it. Larger bodies are logged
// without their body (not redeliverable).
func (s *Store) MaxLoggedBodyBytes() int64 {
	if s.notes.maxQueuedBytes <= 0 {
		return math.MaxInt64
	}
	return int64(s.notes.maxQueuedBytes / 2)
}

// EnqueueDeliveryMark queues the mark of MarkDeliveryCreated without waiting, or refuses
// it at once with ErrQueueFull (the Run controller marks the delivery durably anyway).
func (s *Store) EnqueueDeliveryMark(endpointUID, deliveryID string) error {
	return s.notes.enqueue(deliveryNote{mark: &deliveryKey{endpointUID, deliveryID}})
}

type notesCommitter = groupCommitter[deliveryNote, struct{}]

func newNotesCommitter(s *Store) *notesCommitter {
	return &notesCommitter{
		exec: func(ctx context.Context, batch []*groupItem[deliveryNote, struct{}]) error {
			notes := make([]deliveryNote, len(batch))
			for i, it := range batch {
				notes[i] = it.in
			}
			if err := s.writeNotes(ctx, notes); err != nil {
				return err
			}
			for _, it := range batch {
				it.resolve(struct{}{}, nil)
			}
			return nil
		},
		maxItems:  notesMaxItems,
		flushers:  1,
		linger:    notesLinger,
		size:      deliveryNote.bytes,
		maxQueued: DefaultNoteQueueItems, maxQueuedBytes: DefaultNoteQueueBytes,
		// One bad row (or a deadlock with a concurrent mark) must not lose the others:
		// the batch is written again one note at a time, and only that note fails.
		alone: func(err error) bool {
			return !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled)
		},
	}
}

// writeNotes writes a batch of marks and log rows in one round trip.
func (s *Store) writeNotes(ctx context.Context, notes []deliveryNote) error {
	var marks []deliveryKey
	var verified []LoggedDelivery
	b := &pgx.Batch{}
	// Local to the batch's implicit transaction: only these writes skip the disk wait.
	b.Queue(`select set_config('synchronous_commit', 'off', true)`)
	for _, n := range notes {
		switch {
		case n.mark != nil:
			marks = append(marks, *n.mark)
		case n.log.Verified:
			verified = append(verified, *n.log)
		default:
			// Counted per minute, outcome, status and reason: an upsert each, since two of one
			// batch may fold into the same row (which one statement cannot do twice).
			d := n.log
			b.Queue(`insert into delivery_log (namespace, endpoint, endpoint_uid, received_at, verified, outcome, reason, status, body_size)
				values ($1, $2, $3, $4, false, $5, $6, $7, $8)
				on conflict (endpoint_uid, received_at, outcome, status, reason) where not verified
				do update set count = delivery_log.count + 1, body_size = delivery_log.body_size + excluded.body_size`,
				d.Namespace, d.Endpoint, d.EndpointUID, d.ReceivedAt, d.Outcome, d.Reason, d.Status, d.BodySize)
		}
	}
	if len(marks) > 0 {
		queueMarks(b, marks)
	}
	if len(verified) > 0 {
		queueVerifiedLog(b, verified)
		budgets := map[string]int64{}
		for _, d := range verified {
			if d.BodyBudget != nil && d.BodyExpiresAt != nil {
				budgets[d.Namespace] = *d.BodyBudget
			}
		}
		for _, ns := range slices.Sorted(maps.Keys(budgets)) {
			queueTrim(b, ns, budgets[ns])
		}
	}
	return s.pool.SendBatch(ctx, b).Close()
}

// queueMarks marks deliveries created, in key order, so that two writers lock the rows
// they share in the same order.
func queueMarks(b *pgx.Batch, marks []deliveryKey) {
	sort.Slice(marks, func(i, j int) bool {
		if marks[i].endpointUID != marks[j].endpointUID {
			return marks[i].endpointUID < marks[j].endpointUID
		}
		return marks[i].deliveryID < marks[j].deliveryID
	})
	uids, ids := make([]string, len(marks)), make([]string, len(marks))
	for i, m := range marks {
		uids[i], ids[i] = m.endpointUID, m.deliveryID
	}
	b.Queue(`
		update deliveries d set outcome = $3
		from unnest($1::text[], $2::text[]) as m(endpoint_uid, delivery_id)
		where d.endpoint_uid = m.endpoint_uid and d.delivery_id = m.delivery_id and d.outcome <> $3`,
		uids, ids, DeliveryCreated)
}

// queueVerifiedLog inserts verified deliveries' rows, one statement for all of them.
func queueVerifiedLog(b *pgx.Batch, rows []LoggedDelivery) {
	n := len(rows)
	var (
		namespaces, endpoints, uids, ids, outcomes, reasons, runs, types = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		received                                                         = make([]time.Time, n)
		statuses                                                         = make([]int32, n)
		sizes                                                            = make([]int64, n)
		sums, bodies                                                     = make([][]byte, n), make([][]byte, n)
		headers                                                          = make([]map[string]string, n)
		expires                                                          = make([]*time.Time, n)
	)
	for i, d := range rows {
		namespaces[i], endpoints[i], uids[i], ids[i] = d.Namespace, d.Endpoint, d.EndpointUID, d.DeliveryID
		outcomes[i], reasons[i], runs[i], types[i] = d.Outcome, d.Reason, d.RunName, d.ContentType
		received[i], statuses[i], sizes[i], sums[i] = d.ReceivedAt, int32(d.Status), d.BodySize, d.BodySHA256
		if d.BodyExpiresAt != nil {
			bodies[i], headers[i], expires[i] = d.Body, d.Headers, d.BodyExpiresAt
			if bodies[i] == nil {
				bodies[i] = []byte{}
			}
		}
	}
	b.Queue(`insert into delivery_log (namespace, endpoint, endpoint_uid, received_at, verified, delivery_id, outcome, reason,
		  status, body_size, body_sha256, run_name, body, content_type, headers, body_expires_at)
		select namespace, endpoint, endpoint_uid, received_at, true, delivery_id, outcome, reason,
		  status, body_size, body_sha256, run_name, body, content_type, headers, body_expires_at
		from unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
		  $8::int[], $9::bigint[], $10::bytea[], $11::text[], $12::bytea[], $13::text[], $14::jsonb[], $15::timestamptz[])
		  with ordinality as t(namespace, endpoint, endpoint_uid, received_at, delivery_id, outcome, reason,
		  status, body_size, body_sha256, run_name, body, content_type, headers, body_expires_at, ord)
		order by ord`,
		namespaces, endpoints, uids, received, ids, outcomes, reasons, statuses, sizes, sums, runs, bodies, types, headers, expires)
}
