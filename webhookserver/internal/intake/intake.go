// Package intake reads a webhook delivery's body while it is verified: hashed into the
// verifier as it streams in, held only up to the endpoint's cap and within the listener's
// budget of body bytes in flight.
package intake

import (
	"errors"
	"io"
	"net/http"
	"sync"

	"golang.org/x/sync/semaphore"
)

// Body is a delivery's body as read: kept whole when it fits the endpoint's cap, hashed
// into the verifier as it streamed in either way.
type Body struct {
	bytes []byte
	// blocks hold a chunked body until Bytes joins them.
	blocks   [][]byte
	Size     int64
	TooLarge bool
	// HashedAll: every byte went through the verifier (false when a body far over the cap
	// was cut short: then it cannot be verified).
	HashedAll bool
}

// Bytes is the body, nil when it was over the cap. A body of unknown length was read in
// blocks; they are joined into one slice on the first call, so a delivery refused before
// anything reads its body (a forged signature, a rate limit, a quota) never pays for the
// copy, which for a moment holds the body twice.
func (b *Body) Bytes() []byte {
	if b.blocks != nil {
		b.bytes, b.blocks = join(b.blocks, b.Size), nil
	}
	return b.bytes
}

// ErrBudget means the listener holds its maximum of body bytes in flight.
var ErrBudget = errors.New("the listener holds its maximum of request body bytes")

// reserveGrain is how much of the body budget a body of unknown length takes at a time.
const reserveGrain = 64 << 10

// Read reads r's body into v while holding at most limit bytes of it, reserved from
// budget (the listener's bytes of bodies in flight, across all connections: a reservation
// that cannot be had fails at once with ErrBudget and the sender is told to come
// back). Past limit the body is still hashed, up to hashLimit bytes in all, so that a
// sender holding the key can be told its delivery was too large; what is held is dropped.
// release gives the reservation back; call it once the body is no longer needed (even on
// error).
func Read(r *http.Request, v io.Writer, budget Budget, limit, hashLimit int64) (in Body, release func(), err error) {
	var reserved int64
	release = func() {
		if reserved > 0 {
			budget.Release(reserved)
			reserved = 0
		}
	}
	reserve := func(n int64) error {
		if budget.TryAcquire(n) {
			reserved += n
			return nil
		}
		return ErrBudget
	}
	// A declared length is reserved whole, before a byte is read, so that a flood of
	// large bodies is refused at once instead of half read, and read into a buffer of
	// exactly its size. A body of unknown length (chunked) is held in blocks reserved one
	// at a time and joined once at its end: a slice grown by append would leave behind
	// every smaller copy of itself, several times the body in garbage, uncounted.
	keep := r.ContentLength <= limit
	declared := r.ContentLength >= 0 && keep
	if declared {
		if err := reserve(r.ContentLength); err != nil {
			return in, release, err
		}
		in.bytes = make([]byte, 0, r.ContentLength)
	}
	var blocks [][]byte
	bufp := scratch.Get().(*[]byte)
	defer scratch.Put(bufp)
	buf := *bufp
	for {
		n, readErr := r.Body.Read(buf)
		if n > 0 {
			chunk := buf[:n]
			if in.Size+int64(n) > hashLimit {
				chunk = chunk[:max(hashLimit-in.Size, 0)]
			}
			_, _ = v.Write(chunk)
			in.Size += int64(n)
			if in.Size > limit && !in.TooLarge {
				in.TooLarge, keep, in.bytes, blocks = true, false, nil, nil
				release() // nothing of it is kept from here on
			}
			switch {
			case keep && declared:
				in.bytes = append(in.bytes, buf[:n]...) // within its exact capacity
			case keep:
				for rest := buf[:n]; len(rest) > 0; {
					if len(blocks) == 0 || len(blocks[len(blocks)-1]) == reserveGrain {
						if err := reserve(reserveGrain); err != nil {
							return in, release, err
						}
						blocks = append(blocks, make([]byte, 0, reserveGrain))
					}
					last := &blocks[len(blocks)-1]
					m := min(len(rest), reserveGrain-len(*last))
					*last = append(*last, rest[:m]...)
					rest = rest[m:]
				}
			}
			if in.Size > hashLimit {
				return in, release, nil // too large even to verify: not read further
			}
		}
		if readErr == io.EOF {
			in.HashedAll = true
			switch {
			case keep && !declared && len(blocks) > 0:
				in.blocks = blocks // joined by Bytes, if anything reads them
			case in.bytes == nil && !in.TooLarge:
				in.bytes = []byte{}
			}
			return in, release, nil
		}
		if readErr != nil {
			return in, release, readErr
		}
	}
}

// scratch recycles the buffers bodies are read through: at hundreds of deliveries a
// second, a fresh one each would be most of the garbage a delivery makes.
var scratch = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// join copies blocks into one slice of size bytes. Until the blocks are collected both
// copies are held: for a moment a chunked body takes twice its size (not counted against
// the budget, which would otherwise refuse a chunked body over half of it; Bytes joins
// only for a delivery that gets as far as being used).
func join(blocks [][]byte, size int64) []byte {
	switch len(blocks) {
	case 0:
		return []byte{}
	case 1:
		return blocks[0]
	}
	out := make([]byte, 0, size)
	for _, b := range blocks {
		out = append(out, b...)
	}
	return out
}

// Budget is what bodies in flight are reserved from: the listener's, and the
// namespace's share of it.
type Budget interface {
	TryAcquire(n int64) bool
	Release(n int64)
}

// Shares reserves from every one of its budgets or from none.
type Shares []Budget

func (s Shares) TryAcquire(n int64) bool {
	for i, b := range s {
		if !b.TryAcquire(n) {
			for _, got := range s[:i] {
				got.Release(n)
			}
			return false
		}
	}
	return true
}

func (s Shares) Release(n int64) {
	for _, b := range s {
		b.Release(n)
	}
}

var _ Budget = (*semaphore.Weighted)(nil)

// Discard reads and drops up to limit bytes of a body nothing can verify (an unknown
// endpoint, one without keys, headers that do not parse), as a verifiable one would be
// read: the answer and the connection look the same either way.
func Discard(r *http.Request, limit int64) int64 {
	n, _ := io.Copy(io.Discard, io.LimitReader(r.Body, limit))
	return n
}
