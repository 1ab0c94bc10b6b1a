package stepapi

import (
	"fmt"
	"sync"
	"time"
)

// UploadLimits bound artifact uploads (docs/security.md, "Step API bounds"). A zero field takes its
// DefaultUploadLimits value.
type UploadLimits struct {
	// Timeout is the most one upload may take, from its headers to its answer, body and
	// store write included (408 UploadTimeout past it).
	Timeout time.Duration
	// PerAttempt caps the uploads of one step attempt in flight at once (429
	// TooManyUploads past it; step-run uploads one at a time).
	PerAttempt int
	// PerNamespace caps the uploads of one namespace in flight at once, so that one
	// tenant cannot take the internal listener's request slots (429 TooManyNamespaceUploads).
	PerNamespace int
	// SpoolDir holds the temporary files of uploads being read ("": os.TempDir()).
	SpoolDir string
	// SpoolBytes caps the bytes of all temporary files at once (503 SpoolFull past it). No
	// upload may be larger.
	SpoolBytes int64
	// SpoolMemoryBytes caps the bytes of uploads held in memory at once (each holds at most
	// 1 MiB; past it uploads go to files).
	SpoolMemoryBytes int64
}

// DefaultUploadLimits are the flags' defaults: a 1 GiB artifact (--max-artifact-bytes)
// fits the timeout at 2 MB/s and the spool twice over; four uploads of one attempt and
// 64 of one namespace, a quarter of the internal listener's 256 request slots.
func DefaultUploadLimits() UploadLimits {
	return UploadLimits{Timeout: 10 * time.Minute, PerAttempt: 4, PerNamespace: 64, SpoolBytes: 2 << 30, SpoolMemoryBytes: 16 << 20}
}

// Or fills l's zero fields from d.
func (l UploadLimits) Or(d UploadLimits) UploadLimits {
	if l.Timeout <= 0 {
		l.Timeout = d.Timeout
	}
	if l.PerAttempt <= 0 {
		l.PerAttempt = d.PerAttempt
	}
	if l.PerNamespace <= 0 {
		l.PerNamespace = d.PerNamespace
	}
	if l.SpoolDir == "" {
		l.SpoolDir = d.SpoolDir
	}
	if l.SpoolBytes <= 0 {
		l.SpoolBytes = d.SpoolBytes
	}
	if l.SpoolMemoryBytes <= 0 {
		l.SpoolMemoryBytes = d.SpoolMemoryBytes
	}
	return l
}

// Reasons of the 429 answers to an upload past a concurrency cap.
const (
	reasonTooManyUploads          = "TooManyUploads"
	reasonTooManyNamespaceUploads = "TooManyNamespaceUploads"
)

type attemptID struct {
	runUID, step string
	attempt      int
}

// uploadSlots counts the uploads in flight per step attempt and per namespace (of this
// replica). Entries go when their count does, so the maps hold no more than the uploads
// in flight.
type uploadSlots struct {
	mu         sync.Mutex
	attempts   map[attemptID]int
	namespaces map[string]int
}

// acquire takes a slot of t's attempt and of its namespace, or says which cap refuses it
// (reason and message of the 429).
func (s *uploadSlots) acquire(t stepTarget, l UploadLimits) (release func(), reason, msg string) {
	a := attemptID{runUID: t.run.UID, step: t.step, attempt: t.attempt}
	ns := t.run.Namespace
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attempts == nil {
		s.attempts, s.namespaces = map[attemptID]int{}, map[string]int{}
	}
	if s.attempts[a] >= l.PerAttempt {
		return nil, reasonTooManyUploads, fmt.Sprintf("a step attempt may upload at most %d artifacts at once", l.PerAttempt)
	}
	if s.namespaces[ns] >= l.PerNamespace {
		return nil, reasonTooManyNamespaceUploads, fmt.Sprintf("namespace %s may upload at most %d artifacts at once", ns, l.PerNamespace)
	}
	s.attempts[a]++
	s.namespaces[ns]++
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.attempts[a]--; s.attempts[a] == 0 {
			delete(s.attempts, a)
		}
		if s.namespaces[ns]--; s.namespaces[ns] == 0 {
			delete(s.namespaces, ns)
		}
	}, "", ""
}
