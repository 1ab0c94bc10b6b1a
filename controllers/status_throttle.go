package controllers

import (
	"sync"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
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

// holdBack postpones a counters-only write that comes too soon after the last one: it
// makes the reconcile come back when the write is due and reports true.
func (w *writeThrottle) holdBack(result *ctrl.Result, key any, countersOnly bool, interval, def time.Duration, now time.Time) bool {
	wait := w.wait(key, countersOnly, interval, def, now)
	if wait <= 0 {
		return false
	}
	if result.RequeueAfter == 0 || wait < result.RequeueAfter {
		result.RequeueAfter = wait
	}
	return true
}

// wrote records a write that changed the counters.
func (w *writeThrottle) wrote(key any, now time.Time) { w.last.Store(key, now) }
