package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/aias-dev/aias/internal/spool"
)

// spooled is data as a spooled content.
func spooled(t *testing.T, data []byte) *spool.Content {
	t.Helper()
	var s spool.Spooler
	c, err := s.Spool(bytes.NewReader(data), 0, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Writers of one Run in parallel, small artifacts (group committed, several to a batch)
// and large ones (a transaction each) mixed, never together pass the Run's byte cap nor
// its attempt's count cap; replacing an artifact counts only its new size and adds none
// to the count. Each refusal says which cap and stores nothing.
func TestArtifactCapsHoldUnderConcurrency(t *testing.T) {
	ctx := context.Background()
	uid := newUID(t)
	const small, large = 1 << 10, smallArtifactBytes * 2
	byteCap := int64(6*small + 2*large + 100)
	if err := testStore.SetRunLimits(ctx, uid, RunLimits{ArtifactBytes: &byteCap}); err != nil {
		t.Fatal(err)
	}
	const writers, maxPerAttempt = 32, 10
	errs := make([]error, writers)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range writers {
		size := small
		if i%4 == 0 {
			size = large
		}
		c := spooled(t, content(fmt.Sprint(uid, i), size))
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = testStore.WriteArtifact(ctx, key(uid, fmt.Sprint("a", i)), "text/plain", c, maxPerAttempt)
		}()
	}
	close(start)
	wg.Wait()
	written := 0
	for i, err := range errs {
		var q *QuotaError
		switch {
		case err == nil:
			written++
		case errors.As(err, &q) && errors.Is(err, ErrRunArtifactQuota) && q.Cap == byteCap, errors.Is(err, ErrTooManyArtifacts):
		default:
			t.Errorf("writer %d: %v", i, err)
		}
	}
	arts, err := testStore.ListArtifacts(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	var stored int64
	for _, a := range arts {
		stored += a.Size
	}
	if stored > byteCap || len(arts) > maxPerAttempt || len(arts) != written || written == 0 {
		t.Errorf("%d writers: %d written, %d stored with %d bytes; want at most %d artifacts and %d bytes", writers, written, len(arts), stored, maxPerAttempt, byteCap)
	}
	// At both caps, a replacement of the same size or smaller still goes in.
	if _, err := testStore.WriteArtifact(ctx, key(uid, arts[0].Name), "text/plain", spooled(t, content(uid+" again", int(arts[0].Size))), maxPerAttempt); err != nil {
		t.Errorf("replacing an artifact at the caps: %v", err)
	}
}
