package console

import (
	"errors"
	"strings"
	"sync"
	"testing"
)

// A user gets at most perUser follows and a namespace at most perNamespace, each refusal
// naming its cap; releasing (once, however often release is called) frees the slot, and
// counters at zero are forgotten.
func TestFollowSlotsCaps(t *testing.T) {
	f := newFollowSlots(2, 3)
	r1, err1 := f.acquire("ann", "ns-a")
	r2, err2 := f.acquire("ann", "ns-a")
	if err1 != nil || err2 != nil {
		t.Fatalf("first two follows of ann: %v, %v", err1, err2)
	}
	_, err := f.acquire("ann", "ns-b")
	var capErr *followCapError
	if !errors.As(err, &capErr) || capErr.flag != FlagFollowsPerUser || !strings.Contains(err.Error(), `user "ann"`) || !strings.Contains(err.Error(), "2") {
		t.Fatalf("third follow of ann: %v, want the per-user cap of 2", err)
	}
	r3, err := f.acquire("bob", "ns-a")
	if err != nil {
		t.Fatalf("bob's first follow in ns-a: %v", err)
	}
	if _, err := f.acquire("cid", "ns-a"); !errors.As(err, &capErr) || capErr.flag != FlagFollowsPerNamespace || !strings.Contains(err.Error(), `namespace "ns-a"`) {
		t.Fatalf("fourth follow in ns-a: %v, want the per-namespace cap of 3", err)
	}
	if r, err := f.acquire("cid", "ns-b"); err != nil {
		t.Fatalf("cid in another namespace: %v", err)
	} else {
		r()
	}

	r1()
	r1() // a second release of the same slot frees nothing more
	if u, n := f.open("ann", "ns-a"); u != 1 || n != 2 {
		t.Fatalf("after one release: ann %d, ns-a %d; want 1, 2", u, n)
	}
	if r, err := f.acquire("ann", "ns-a"); err != nil {
		t.Fatalf("ann after a release: %v", err)
	} else {
		r()
	}
	r2()
	r3()
	if len(f.users) != 0 || len(f.namespaces) != 0 {
		t.Errorf("counters left after every release: %v %v", f.users, f.namespaces)
	}
}

// Concurrent follows never pass the caps, and every slot comes back.
func TestFollowSlotsConcurrent(t *testing.T) {
	f := newFollowSlots(5, 8)
	var mu sync.Mutex
	held, most := 0, 0
	var wg sync.WaitGroup
	for i := range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			release, err := f.acquire([]string{"ann", "bob"}[i%2], "ns")
			if err != nil {
				return
			}
			defer release()
			mu.Lock()
			held++
			most = max(most, held)
			mu.Unlock()
			u, n := f.open("ann", "ns")
			if u > 5 || n > 8 {
				t.Errorf("ann holds %d, ns %d", u, n)
			}
			mu.Lock()
			held--
			mu.Unlock()
		}()
	}
	wg.Wait()
	if most > 8 {
		t.Errorf("%d follows at once, cap 8", most)
	}
	if len(f.users) != 0 || len(f.namespaces) != 0 {
		t.Errorf("counters left: %v %v", f.users, f.namespaces)
	}
}
