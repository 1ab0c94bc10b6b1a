package controllers

import (
	"context"
	"time"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aias-dev/aias/internal/store"
)

// DefaultStorePurgeInterval is how often the store's expiring rows are purged.
const DefaultStorePurgeInterval = time.Minute

// ledgerPurgeBatch bounds one delete statement, so a large backlog is purged in short
// transactions that never hold many row locks against the hook listener's inserts.
const ledgerPurgeBatch = 5000

// StoreJanitor deletes the store's rows that have outlived their use: deliveries whose
// replay window has ended (the hook listener treats an expired row as absent whether or
// not it was purged), tombstones of deleted Runs once no step ticket of theirs can be
// valid, run inputs and frozen specs no Run uses any more (store_sweep.go), and run
// claims and usage counters of billing periods long past. It only bounds the tables; it
// runs on the leader, and a second replica would be harmless.
type StoreJanitor struct {
	Store *store.Store
	// Runs reads Runs from the manager's cache, with IndexRunStoredContent (SetupIndexes).
	// Without it inputs and specs are never swept: the run index alone does not show a
	// Run that exists but is not indexed yet.
	Runs client.Reader
	// OrphanGrace is how long an unused input or spec is kept after it was last stored;
	// zero means store.OrphanGrace. Tests shorten it.
	OrphanGrace time.Duration
	// Interval between purges; zero means DefaultStorePurgeInterval.
	Interval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// SetupWithManager adds the janitor to mgr.
func (j *StoreJanitor) SetupWithManager(mgr ctrl.Manager) error { return mgr.Add(j) }

// NeedLeaderElection: one replica purges.
func (j *StoreJanitor) NeedLeaderElection() bool { return true }

// Start purges at once and then every Interval until ctx is done.
func (j *StoreJanitor) Start(ctx context.Context) error {
	interval := j.Interval
	if interval <= 0 {
		interval = DefaultStorePurgeInterval
	}
	log := ctrl.LoggerFrom(ctx).WithName("store-janitor")
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		if n, err := j.Purge(ctx); err != nil && ctx.Err() == nil {
			log.Error(err, "purging expired rows")
		} else if n > 0 {
			log.V(1).Info("purged expired rows", "count", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// deletedRunMemory is how long a deleted Run's tombstone is kept: longer than any step
// attempt ticket lives (a week and a quarter hour, see the Run controller's
// ticketLifetime), so no step can write for the Run once it is forgotten.
const deletedRunMemory = 8 * 24 * time.Hour

// DeliveryLogRetention is how long the delivery log keeps a row: as long as a user can
// still be looking for why a Run did or did not start.
const DeliveryLogRetention = 30 * 24 * time.Hour

// usageKept is how long the run claims and usage counters of a billing period are kept
// after it started: two of the longest months. The current period started at most 31
// days ago, nothing reads an earlier period's count, and a Run's claim is looked up only
// while the Run is being admitted.
const usageKept = 62 * 24 * time.Hour

// Purge deletes every expired delivery and tombstone, every unused input and spec, and
// the usage of periods long past, in batches, and reports how many rows.
func (j *StoreJanitor) Purge(ctx context.Context) (int64, error) {
	now := time.Now()
	if j.Now != nil {
		now = j.Now()
	}
	var total int64
	for _, purge := range []func() (int64, error){
		func() (int64, error) { return j.Store.PurgeDeliveries(ctx, now, ledgerPurgeBatch) },
		func() (int64, error) {
			return j.Store.PurgeDeletedRuns(ctx, now.Add(-deletedRunMemory), ledgerPurgeBatch)
		},
		func() (int64, error) {
			return j.Store.PurgeDeliveryLog(ctx, now.Add(-DeliveryLogRetention), ledgerPurgeBatch)
		},
		func() (int64, error) { return j.Store.PurgeDeliveryBodies(ctx, now, ledgerPurgeBatch) },
		func() (int64, error) { return j.Store.PurgeUsage(ctx, now.Add(-usageKept), ledgerPurgeBatch) },
	} {
		for {
			n, err := purge()
			total += n
			if err != nil {
				return total, err
			}
			if n < ledgerPurgeBatch {
				break
			}
		}
	}
	if j.Runs == nil {
		return total, nil
	}
	for _, sweep := range []func(context.Context) (int64, error){j.sweepInputs, j.sweepSpecs} {
		n, err := sweep(ctx)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
