// Package servertest is what the tests of the webhookserver packages share beside
// internal/testrig/testenv/fixtures (their TestMain): fresh run UIDs and a capture of what a
// listener logs.
package servertest

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"
)

// FreshUID is a new run UID per call, so tests repeat cleanly (go test -count=N) on
// their package's database.
func FreshUID() string {
	return fmt.Sprintf("6f1d3c2a-%04x-4000-8000-%012x", time.Now().UnixNano()&0xffff, time.Now().UnixNano()&0xffffffffffff)
}

// Logs captures every line a logger writes, at any verbosity, for tests of what is
// (and is not) logged. It is safe for concurrent use.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Logger writes to l.
func (l *Logs) Logger() logr.Logger {
	return funcr.New(l.write, funcr.Options{Verbosity: 10})
}

func (l *Logs) write(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.WriteString(prefix + " " + args + "\n")
}

func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
