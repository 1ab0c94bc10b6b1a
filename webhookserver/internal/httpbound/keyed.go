package httpbound

import "sync"

// KeyedSlots caps what each key (a namespace, a user) holds at once, so that one tenant
// cannot take a whole listener's requests in flight from the others. It keeps an entry
// only while a key holds a slot, so it is bounded by the slots taken, not by the keys
// ever seen.
type KeyedSlots struct {
	max  int
	mu   sync.Mutex
	held map[string]int
}

// NewKeyedSlots allows each key max slots at once (max <= 0: unbounded).
func NewKeyedSlots(max int) *KeyedSlots { return &KeyedSlots{max: max, held: map[string]int{}} }

// TryAcquire takes one of key's slots, or reports false at once when it holds all of them.
// Every true must be matched by one Release.
func (k *KeyedSlots) TryAcquire(key string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.max > 0 && k.held[key] >= k.max {
		return false
	}
	k.held[key]++
	return true
}

// Release gives back one of key's slots.
func (k *KeyedSlots) Release(key string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.held[key] <= 1 {
		delete(k.held, key)
		return
	}
	k.held[key]--
}

// Held is how many slots key holds now.
func (k *KeyedSlots) Held(key string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.held[key]
}

// Max is the cap per key.
func (k *KeyedSlots) Max() int { return k.max }

// KeyedBytes caps the bytes each key (a namespace) holds at once: a share of a budget
// that one tenant alone cannot exhaust. Like KeyedSlots it keeps an entry only while its
// key holds bytes.
type KeyedBytes struct {
	max  int64
	mu   sync.Mutex
	held map[string]int64
}

// NewKeyedBytes allows each key max bytes at once.
func NewKeyedBytes(max int64) *KeyedBytes { return &KeyedBytes{max: max, held: map[string]int64{}} }

// For is key's share, to reserve from and release to.
func (k *KeyedBytes) For(key string) KeyShare { return KeyShare{k: k, key: key} }

// KeyShare is one key's share of a KeyedBytes.
type KeyShare struct {
	k   *KeyedBytes
	key string
}

// TryAcquire takes n bytes of the key's share, or reports false at once.
func (s KeyShare) TryAcquire(n int64) bool {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if s.k.held[s.key]+n > s.k.max {
		return false
	}
	s.k.held[s.key] += n
	return true
}

// Release gives back n bytes of the key's share.
func (s KeyShare) Release(n int64) {
	s.k.mu.Lock()
	defer s.k.mu.Unlock()
	if s.k.held[s.key] <= n {
		delete(s.k.held, s.key)
		return
	}
	s.k.held[s.key] -= n
}
