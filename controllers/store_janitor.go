package controllers

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/aias-dev/aias/internal/store"
)

// DefaultLedgerPurgeInterval is how often deliveries past their replay window are
// deleted from the ledger.
const DefaultLedgerPurgeInterval = time.Minute

// ledgerPurgeBatch bounds one delete statement, so a large backlog is purged in short
// transactions that never hold many row locks against the hook listener's inserts.
const ledgerPurgeBatch = 5000

// DeliveryLedgerJanitor deletes deliveries whose replay window has ended. The hook
// listener treats an expired row as absent whether or not it was purged, so the janitor
// only bounds the table; it runs on the leader, and a second replica would be harmless.
type DeliveryLedgerJanitor struct {
	Store *store.Store
	// Interval between purges; zero means DefaultLedgerPurgeInterval.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SetupWithManager adds the janitor to mgr.
func (j *DeliveryLedgerJanitor) SetupWithManager(mgr ctrl.Manager) error { return mgr.Add(j) }

// NeedLeaderElection: one replica purges.
func (j *DeliveryLedgerJanitor) NeedLeaderElection() bool { return true }

// Start purges at once and then every Interval until ctx is done.
func (j *DeliveryLedgerJanitor) Start(ctx context.Context) error {
	interval := j.Interval
	if interval <= 0 {
		interval = DefaultLedgerPurgeInterval
	}
	log := ctrl.LoggerFrom(ctx).WithName("delivery-ledger")
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if n, err := j.Purge(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "purging expired deliveries")
		} else if n > 0 {
			log.V(1).Info("purged expired deliveries", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Purge deletes every delivery expired now, in batches, and reports how many.
func (j *DeliveryLedgerJanitor) Purge(ctx context.Context) (int64, error) {
	now := time.Now()
	if j.Now != nil {
		now = j.Now()
	}
	var total int64
	for {
		n, err := j.Store.PurgeDeliveries(ctx, now, ledgerPurgeBatch)
		total += n
		if err != nil || n < ledgerPurgeBatch {
			return total, err
		}
	}
}
