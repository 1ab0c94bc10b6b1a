package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// Pure logic of the group committer: batches respect the key rule and the item cap, and
// a batch function that forgets an item or fails answers every caller.
func TestGroupCommitter(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var batches [][]int
	// 7 (left unanswered) and 8 (fails its batch) share a key, so they never share a
	// batch and each gets its own outcome.
	keyOf := func(i int) int {
		if i == 8 {
			return 7
		}
		return i % 10
	}
	g := &groupCommitter[int, int]{
		exec: func(_ context.Context, batch []*groupItem[int, int]) error {
			var ins []int
			seen := map[int]bool{}
			for _, it := range batch {
				if seen[keyOf(it.in)] {
					t.Errorf("batch holds key %d twice", keyOf(it.in))
				}
				seen[keyOf(it.in)] = true
				ins = append(ins, it.in)
				switch {
				case it.in == 7:
					// left unanswered
				case it.in == 8:
					return errors.New("boom")
				default:
					it.resolve(it.in*2, nil)
				}
			}
			mu.Lock()
			batches = append(batches, ins)
			mu.Unlock()
			return nil
		},
		key:      func(i int) any { return keyOf(i) },
		maxItems: 4,
	}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			out, err := g.submit(ctx, i)
			switch {
			case i == 7 && !errors.Is(err, errNotResolved):
				t.Errorf("unanswered item got %v, %v", out, err)
			case i == 8 && (err == nil || err.Error() != "boom"):
				t.Errorf("failed batch's item got %v, %v", out, err)
			case i != 7 && i != 8 && err == nil && out != i*2:
				t.Errorf("item %d got %d", i, out)
			}
		})
	}
	wg.Wait()
	for _, b := range batches {
		if len(b) > 4 {
			t.Errorf("batch of %d items, cap 4", len(b))
		}
	}
}
