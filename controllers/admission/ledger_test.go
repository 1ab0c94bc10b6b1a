package admission

import (
	"testing"
	"time"
)

func TestCountLedger(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	l := newCountLedger(func() time.Time { return now })
	listed := func(names ...string) func() ([]string, error) {
		return func() ([]string, error) { return names, nil }
	}
	// Two admitted, neither in the cache yet: the third is refused at a limit of 2.
	if _, ok, _ := l.admit("Workflow/a", "x", 2, listed()); !ok {
		t.Fatal("x refused")
	}
	if _, ok, _ := l.admit("Workflow/a", "y", 2, listed()); !ok {
		t.Fatal("y refused")
	}
	if n, ok, _ := l.admit("Workflow/a", "z", 2, listed()); ok || n != 2 {
		t.Fatalf("z admitted (count %d)", n)
	}
	// Another scope is independent; a retried create of an admitted name is not counted twice.
	if _, ok, _ := l.admit("Workflow/b", "z", 2, listed()); !ok {
		t.Fatal("z refused in another namespace")
	}
	if _, ok, _ := l.admit("Workflow/a", "y", 2, listed("x")); !ok {
		t.Fatal("a retried create of y refused")
	}
	// Once listed, names count once; a create that never happened stops counting after the TTL.
	if n, ok, _ := l.admit("Workflow/a", "z", 3, listed("x", "y")); !ok || n != 2 {
		t.Fatalf("z at limit 3: ok=%v count=%d", ok, n)
	}
	now = now.Add(pendingTTL + time.Second)
	if n, ok, _ := l.admit("Workflow/a", "w", 3, listed("x", "y")); !ok || n != 2 {
		t.Fatalf("after the TTL the never-created z still counts: ok=%v count=%d", ok, n)
	}
}
