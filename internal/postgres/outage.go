package postgres

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
)

// Halt stops the server the way a crash does (immediate shutdown: every client's
// connection is cut, nothing is checkpointed) and keeps its data, so that Resume can
// bring the same databases back on the same port. For tests of a database outage.
func (e *Ephemeral) Halt(ctx context.Context) error {
	if e.halted {
		return errors.New("postgres: already halted")
	}
	out, err := e.command(ctx, "pg_ctl", "-D", filepath.Join(e.dir, "data"), "-m", "immediate", "-w", "stop").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
	e.halted = true
	e.logf("postgres: halted (127.0.0.1:%d refuses connections)", e.Port)
	return nil
}

// Resume starts a halted server again on its port and waits until it accepts
// connections (after crash recovery).
func (e *Ephemeral) Resume(ctx context.Context) error {
	if !e.halted {
		return errors.New("postgres: not halted")
	}
	if err := e.start(ctx); err != nil {
		return err
	}
	e.halted = false
	e.logf("postgres: resumed on 127.0.0.1:%d", e.Port)
	return nil
}
