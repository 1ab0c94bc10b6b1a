package admission

import (
	"sync"
	"time"
)

// countLedger makes count limits exact within one manager: two creates that race
// through admission would otherwise both be counted against a cache that holds neither
// yet (the object is persisted after admission answers, and reaches the informer a moment
// later), and a namespace would end up one over its plan.
//
// Count checks run one at a time, and an admitted name stays counted as pending until the
// cache lists it, or for pendingTTL when the create never completes (another admission
// plugin refused it, say); meanwhile a create at the limit is refused, which errs on the
// plan's side. With several manager replicas serving admission, creates that reach
// different replicas at the same moment can still overshoot, by at most one per extra
// replica.
type countLedger struct {
	mu      sync.Mutex
	pending map[string]map[string]time.Time // scope (kind/namespace) → name → admitted at
	now     func() time.Time
}

const pendingTTL = 10 * time.Second

func newCountLedger(now func() time.Time) *countLedger {
	return &countLedger{pending: map[string]map[string]time.Time{}, now: now}
}

// admit counts name's siblings in scope — listed (the cache's view, without name) plus
// those admitted but not listed yet — and, when the count is under limit, records name
// as admitted. It returns the count the decision was made on.
func (l *countLedger) admit(scope, name string, limit int, listed func() ([]string, error)) (int, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	names, err := listed()
	if err != nil {
		return 0, false, err
	}
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		seen[n] = true
	}
	pending := l.pending[scope]
	now := l.now()
	for n, at := range pending {
		if seen[n] || now.Sub(at) > pendingTTL {
			delete(pending, n) // the cache has it now, or its create never happened
		}
	}
	count := len(names)
	for n := range pending {
		if n != name {
			count++
		}
	}
	if count >= limit {
		return count, false, nil
	}
	if pending == nil {
		pending = map[string]time.Time{}
		l.pending[scope] = pending
	}
	pending[name] = now
	return count, true, nil
}
