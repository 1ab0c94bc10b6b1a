package intake

import (
	"bytes"
	"io"
	"net/http"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/aias-dev/aias/internal/signature"
)

// chunkedBody hands out a body in pieces of the sizes it is given (1 to 65536 bytes),
// pausing now and then: a sender over a slow or bursty network.
type chunkedBody struct {
	rest   []byte
	sizes  []byte
	pauses []byte
	i      int
}

func (c *chunkedBody) Read(p []byte) (int, error) {
	if len(c.rest) == 0 {
		return 0, io.EOF
	}
	n := 4096
	if len(c.sizes) > 0 {
		n = 1 + int(c.sizes[c.i%len(c.sizes)])*257
	}
	// A pause every few reads, at most a few milliseconds in all per input.
	if len(c.pauses) > 0 && c.i%16 == 0 && c.i < 256 {
		time.Sleep(time.Duration(c.pauses[c.i%len(c.pauses)]%8) * 50 * time.Microsecond)
	}
	c.i++
	n = min(n, len(p), len(c.rest))
	copy(p, c.rest[:n])
	c.rest = c.rest[n:]
	return n, nil
}

func (c *chunkedBody) Close() error { return nil }

// FuzzRead sends a signed body of any size, split into reads of any sizes with pauses
// between them, declared or not, against any cap and budget. Whatever arrives: the
// verifier sees exactly the bytes sent (so a body within the hash limit verifies), a
// body within the cap is kept byte for byte and one over it not at all, the budget is
// never overdrawn, and every byte of it comes back.
func FuzzRead(f *testing.F) {
	f.Add(uint32(100), uint32(1000), uint32(4<<20), true, []byte{3, 200}, []byte{1})
	f.Add(uint32(70_000), uint32(64<<10), uint32(1<<20), false, []byte{255}, []byte{})
	f.Add(uint32(5000), uint32(100), uint32(1<<20), true, []byte{0}, []byte{7, 0})
	f.Add(uint32(300_000), uint32(1<<20), uint32(100_000), false, []byte{90, 3}, []byte{})
	key := signature.Key{Name: "secret", Value: []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
	cfg := signature.Config{Scheme: signature.StandardWebhooks}
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, size, limit, budget uint32, declared bool, sizes, pauses []byte) {
		size, limit = size%(400<<10), 1+limit%(300<<10)
		budgetBytes := int64(1 + budget%(8<<20))
		hashLimit := int64(limit) + max(int64(limit), 64<<10)
		body := bytes.Repeat([]byte("0123456789abcdef"), int(size)/16+1)[:size]
		h, err := signature.Sign(cfg, key, "msg_1", body, now)
		if err != nil {
			t.Fatal(err)
		}
		v, err := signature.NewVerifier(cfg, []signature.Key{key}, h, now)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := http.NewRequest(http.MethodPost, "/hooks/ns/ep", nil)
		r.Body = &chunkedBody{rest: body, sizes: sizes, pauses: pauses}
		r.ContentLength = -1
		if declared {
			r.ContentLength = int64(size)
		}
		sem := semaphore.NewWeighted(budgetBytes)
		in, release, err := Read(r, v, sem, int64(limit), hashLimit)
		defer func() {
			release()
			if !sem.TryAcquire(budgetBytes) {
				t.Fatal("the body budget was not given back whole")
			}
		}()
		if err == ErrBudget {
			// What a body within the cap needs: its declared length, or, chunked, its
			// blocks.
			need := int64(size)
			if !declared {
				need = int64(size) + reserveGrain
			}
			if int64(size) <= int64(limit) && budgetBytes >= need {
				t.Fatalf("a %d-byte body (declared %v) within a %d-byte budget was refused", size, declared, budgetBytes)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if int64(size) > hashLimit {
			if in.HashedAll {
				t.Fatal("a body past the hash limit was read to the end")
			}
			return
		}
		if !in.HashedAll || in.Size != int64(size) {
			t.Fatalf("read %d of %d bytes (all hashed: %v)", in.Size, size, in.HashedAll)
		}
		if err := v.Verify(); err != nil {
			t.Fatalf("a correctly signed %d-byte body read in pieces does not verify: %v", size, err)
		}
		if in.TooLarge != (size > limit) {
			t.Fatalf("TooLarge = %v for %d bytes against a cap of %d", in.TooLarge, size, limit)
		}
		if !in.TooLarge && !bytes.Equal(in.Bytes(), body) || in.TooLarge && in.Bytes() != nil {
			t.Fatalf("kept %d bytes of a %d-byte body (cap %d)", len(in.Bytes()), size, limit)
		}
	})
}
