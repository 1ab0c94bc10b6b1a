package controllers

import (
	"sync"
	"time"
)

// writeThrottle holds back status writes that only refresh counters (a Workflow's run
// summary, a Tenant's usage), so a busy object is rewritten at most once per interval
// instead of on every Run that starts or ends. Other status changes are never held back.
type writeThrottle struct {
	last sync.Map // object key → time.Time of its last counters write
}

// wait says how long to hold back a write: countersOnly reports that the pending change
// touches nothing but counters. interval 0 means def, negative means no holding back.
func (w *writeThrottle) wait(key any, countersOnly bool, interval, def time.Duration, now time.Time) time.Duration {
	if interval == 0 {
		interval = def
	}
	if interval < 0 || !countersOnly {
		return 0
	}
	last, ok := w.last.Load(key)
	if !ok {
		return 0
	}
	return interval - now.Sub(last.(time.Time))
}

// wrote records a write that changed the counters.
func (w *writeThrottle) wrote(key any, now time.Time) { w.last.Store(key, now) }
