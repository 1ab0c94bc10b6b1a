package store

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Many of the store's hot writes (a small artifact, a delivery's ledger row) are
// dominated by per-transaction cost — a round trip per statement and a WAL flush per
// commit — not by their bytes. Concurrent writes of one kind are therefore group
// committed: whoever arrives while a batch is being written waits for the next batch, and
// each batch is one transaction for all of its items. A lone write pays no delay (its
// batch starts at once); a burst pays one commit per batch instead of one per item.
const (
	groupFlushers     = 4 // batches in flight at once per committer, so commits overlap
	groupFlushTimeout = 30 * time.Second
)

// errNotResolved is what a caller gets when a batch function returned without answering
// its item: a bug in that function, reported instead of blocking the caller forever.
var errNotResolved = errors.New("store: the group commit returned without an answer for this write")

// groupItem is one write in a batch. The batch function answers it with resolve exactly
// once; an item it leaves unanswered gets the batch's error.
type groupItem[T, R any] struct {
	in       T
	done     chan groupResult[R] // buffered, receives exactly once
	resolved bool                // touched only by the goroutine running the batch
	// detached: enqueued, nobody reads done; a failure goes to the committer's failed.
	detached bool
	failed   func(T, error)
}

type groupResult[R any] struct {
	out R
	err error
}

func (it *groupItem[T, R]) resolve(out R, err error) {
	if it.resolved {
		return
	}
	it.resolved = true
	it.done <- groupResult[R]{out: out, err: err}
	if it.detached && err != nil && it.failed != nil {
		it.failed(it.in, err)
	}
}

// groupCommitter batches writes of one kind (T in, R out).
type groupCommitter[T, R any] struct {
	// exec writes a batch and resolves its items; an error it returns answers the
	// items it did not resolve.
	exec func(ctx context.Context, batch []*groupItem[T, R]) error
	// key, when set, keeps two writes with the same key out of one batch (one statement
	// cannot upsert a row twice); the later one waits for the next batch, so the last
	// write stays the winner.
	key func(T) any
	// size, when set, is what maxBytes (a batch's bytes, when positive) and
	// maxQueuedBytes bound.
	size               func(T) int
	maxItems, maxBytes int
	// alone, when set, says that a batch which failed with this error is to be written
	// again one item at a time: a deadlock between two batches (rows of two unique
	// indexes cannot be locked in one order for both) does not fail their writes.
	alone func(error) bool
	// flushers bounds the batches in flight at once (0: groupFlushers). A write nobody
	// waits for is better served by one flusher and a linger: fewer, fuller batches.
	flushers int
	// linger is how long a flusher waits before it takes a batch, so that writes arriving
	// together share it. Only for writes no caller's answer waits on.
	linger time.Duration

	// maxQueued and maxQueuedBytes (by size) bound what enqueue holds, waiting to be
	// written (0: unbounded; submit's callers are bounded by their own in-flight caps).
	maxQueued, maxQueuedBytes int
	// failed hears of every enqueued write that failed: nobody waits for those.
	failed func(T, error)

	mu          sync.Mutex
	pending     []*groupItem[T, R]
	queuedBytes int
	flushing    int
}

// ErrQueueFull means a write nobody waits for was refused because its queue holds its
// maximum of writes or bytes; the caller answers its own client "busy, retry".
var ErrQueueFull = errors.New("store: the write queue is full")

// enqueue queues in without waiting for it to be written, or refuses it at once with
// ErrQueueFull when the queue is at its bounds: a burst costs at most the queue's bytes
// of memory, never a goroutine per write.
func (g *groupCommitter[T, R]) enqueue(in T) error {
	it := &groupItem[T, R]{in: in, done: make(chan groupResult[R], 1), detached: true}
	n := 0
	if g.size != nil {
		n = g.size(in)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.maxQueued > 0 && len(g.pending) >= g.maxQueued || g.maxQueuedBytes > 0 && g.queuedBytes+n > g.maxQueuedBytes {
		return ErrQueueFull
	}
	g.pending = append(g.pending, it)
	g.queuedBytes += n
	if g.flushing < g.maxFlushers() {
		g.flushing++
		go g.flushLoop()
	}
	return nil
}

// submit queues in and waits for the batch that writes it. A flusher goroutine exists
// only while there is work, so the committer needs no start or stop.
func (g *groupCommitter[T, R]) submit(ctx context.Context, in T) (R, error) {
	it := &groupItem[T, R]{in: in, done: make(chan groupResult[R], 1)}
	g.mu.Lock()
	g.pending = append(g.pending, it)
	if g.size != nil {
		g.queuedBytes += g.size(in)
	}
	if g.flushing < g.maxFlushers() {
		g.flushing++
		go g.flushLoop()
	}
	g.mu.Unlock()
	select {
	case r := <-it.done:
		return r.out, r.err
	case <-ctx.Done():
		// The batch may still commit it; every batch function's writes are idempotent,
		// so a retry of the same write is harmless.
		var zero R
		return zero, ctx.Err()
	}
}

func (g *groupCommitter[T, R]) maxFlushers() int {
	if g.flushers > 0 {
		return g.flushers
	}
	return groupFlushers
}

func (g *groupCommitter[T, R]) flushLoop() {
	for {
		if g.linger > 0 {
			time.Sleep(g.linger)
		}
		batch := g.take()
		if batch == nil {
			return
		}
		// Not tied to any one request: one caller going away must not fail the others.
		ctx, cancel := context.WithTimeout(context.Background(), groupFlushTimeout)
		err := g.exec(ctx, batch)
		if err != nil && len(batch) > 1 && g.alone != nil && g.alone(err) {
			for _, it := range batch {
				if it.resolved {
					continue
				}
				one := []*groupItem[T, R]{it}
				if err := g.exec(ctx, one); err != nil {
					it.resolve(*new(R), err)
				}
			}
			err = nil
		}
		cancel()
		if err == nil {
			err = errNotResolved
		}
		var zero R
		for _, it := range batch {
			it.resolve(zero, err)
		}
	}
}

// take removes the next batch from the queue, or retires this flusher when it is empty.
func (g *groupCommitter[T, R]) take() []*groupItem[T, R] {
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.pending) == 0 {
		g.flushing--
		return nil
	}
	var seen map[any]bool
	if g.key != nil {
		seen = make(map[any]bool)
	}
	n, bytes := 0, 0
	for n < len(g.pending) && n < g.maxItems {
		in := g.pending[n].in
		if g.size != nil && g.maxBytes > 0 {
			if n > 0 && bytes+g.size(in) > g.maxBytes {
				break
			}
			bytes += g.size(in)
		}
		if seen != nil {
			k := g.key(in)
			if seen[k] {
				break
			}
			seen[k] = true
		}
		n++
	}
	batch := g.pending[:n:n]
	g.pending = append([]*groupItem[T, R](nil), g.pending[n:]...)
	for _, it := range batch {
		if g.size != nil {
			g.queuedBytes -= g.size(it.in)
		}
		it.failed = g.failed
	}
	return batch
}
