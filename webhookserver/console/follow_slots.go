package console

import (
	"fmt"
	"sync"
)

// reasonTooManyFollows is the error reason of a follow refused by a cap (429).
const reasonTooManyFollows = "TooManyFollows"

// followSlots counts the log follows open per user and per namespace. A follow is
// long-lived and takes one of the user listener's in-flight slots for as long as it
// lasts; without these caps one tenant's followers could hold every slot.
type followSlots struct {
	perUser, perNamespace int

	mu         sync.Mutex
	users      map[string]int // open follows by user name (entries at zero are dropped)
	namespaces map[string]int // open follows by namespace
}

func newFollowSlots(perUser, perNamespace int) *followSlots {
	return &followSlots{perUser: perUser, perNamespace: perNamespace, users: map[string]int{}, namespaces: map[string]int{}}
}

// followCapError names the cap a refused follow met.
type followCapError struct {
	flag, who string
	limit     int
}

func (e *followCapError) Error() string {
	return fmt.Sprintf("%s already has %d log follows open, the most allowed (--%s); close one or retry later", e.who, e.limit, e.flag)
}

// acquire takes a slot for a follow by user in namespace, or answers which cap is full.
// release gives the slot back; only its first call counts, so every exit path may call it.
func (f *followSlots) acquire(user, namespace string) (release func(), err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.users[user] >= f.perUser {
		return nil, &followCapError{flag: FlagFollowsPerUser, who: fmt.Sprintf("user %q", user), limit: f.perUser}
	}
	if f.namespaces[namespace] >= f.perNamespace {
		return nil, &followCapError{flag: FlagFollowsPerNamespace, who: fmt.Sprintf("namespace %q", namespace), limit: f.perNamespace}
	}
	f.users[user]++
	f.namespaces[namespace]++
	var once sync.Once
	return func() { once.Do(func() { f.release(user, namespace) }) }, nil
}

func (f *followSlots) release(user, namespace string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range []struct {
		counts map[string]int
		key    string
	}{{f.users, user}, {f.namespaces, namespace}} {
		if c.counts[c.key]--; c.counts[c.key] <= 0 {
			delete(c.counts, c.key)
		}
	}
}

// open reports the follows open by user and in namespace.
func (f *followSlots) open(user, namespace string) (byUser, inNamespace int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.users[user], f.namespaces[namespace]
}
