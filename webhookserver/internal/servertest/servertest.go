// Package servertest is what the tests of the webhookserver packages share: a TestMain
// with a database and, for the listeners that read Kubernetes, a control plane; fresh
// run UIDs; and a capture of what a listener logs.
package servertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/funcr"

	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/storetest"
	"github.com/aias-dev/aias/internal/testenv"
)

// Main runs a package's tests and exits with their status: on a migrated database of
// their own, named after prefix, in *st, and, when env is not nil, on a control plane in
// *env. Both are shared by the package's tests and removed in every exit path.
func Main(m *testing.M, prefix string, env **testenv.Env, st **store.Store) {
	os.Exit(run(m, prefix, env, st))
}

func run(m *testing.M, prefix string, env **testenv.Env, st **store.Store) int {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var err error
	if env != nil {
		if *env, err = testenv.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() { _ = (*env).Stop() }()
	}
	var cleanup func()
	if *st, cleanup, err = storetest.Open(ctx, prefix); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer cleanup()
	return m.Run()
}

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
