package controllers

import (
	"context"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
)

// Run inputs and frozen specs are content-addressed and shared by the Runs that use them
// (the Runs of one namespace for an input, any Runs for a spec), so they are not deleted
// with a Run but swept once none uses them. A sweep rather than reference counts: the
// hook listener stores a payload before the Run that refers to it exists, and the Run
// controller names a spec in status after storing it, so a count would have to be taken
// before the reference exists and given back by whoever fails in between. The sweep needs
// no such bookkeeping:
//
//   - the store lists inputs and specs last stored more than the grace ago
//     (store.OrphanGrace, an hour: what covers the store → create → watch round trip) that
//     no row of the run index refers to;
//   - each is looked up among the Runs in the manager's cache (IndexRunStoredContent): a
//     Run that exists but is not indexed yet — created while the manager was down, its
//     reconcile failing, or just not reached — keeps its input however long that lasts,
//     and is refreshed so that it is not asked about again for a grace period;
//   - the rest is deleted if, at that moment, still nothing in the index refers to it and
//     it was not stored again (the delete checks both again).
//
// A Run created by hand with spec.inputRef naming an input that nothing used for an hour
// may therefore find it gone: it fails with reason InputNotFound.

// sweepBatch bounds one list of candidates and one delete statement.
const sweepBatch = 1000

// maxSweepBatches bounds the batches of one sweep (the next tick goes on), so a large
// backlog never holds the janitor for long.
const maxSweepBatches = 20

// sweepInputs deletes the inputs no Run uses any more and reports how many.
func (j *StoreJanitor) sweepInputs(ctx context.Context) (int64, error) {
	grace := j.orphanGrace()
	var total int64
	for range maxSweepBatches {
		cands, err := j.Store.UnreferencedInputs(ctx, grace, sweepBatch)
		if err != nil {
			return total, err
		}
		var gone, keep []store.StoredInput
		for _, c := range cands {
			used, err := j.runsUse(ctx, c.Namespace, storedInputKey(c.Digest))
			if err != nil {
				return total, err
			}
			if used {
				keep = append(keep, c)
			} else {
				gone = append(gone, c)
			}
		}
		n, err := j.Store.SweepInputs(ctx, gone, keep, grace)
		total += n
		if err != nil || len(cands) < sweepBatch {
			return total, err
		}
	}
	return total, nil
}

// sweepSpecs deletes the frozen specs no Run uses any more and reports how many.
func (j *StoreJanitor) sweepSpecs(ctx context.Context) (int64, error) {
	grace := j.orphanGrace()
	var total int64
	for range maxSweepBatches {
		cands, err := j.Store.UnreferencedSpecs(ctx, grace, sweepBatch)
		if err != nil {
			return total, err
		}
		var gone, keep []string
		for _, d := range cands {
			used, err := j.runsUse(ctx, "", storedSpecKey(d))
			if err != nil {
				return total, err
			}
			if used {
				keep = append(keep, d)
			} else {
				gone = append(gone, d)
			}
		}
		n, err := j.Store.SweepSpecs(ctx, gone, keep, grace)
		total += n
		if err != nil || len(cands) < sweepBatch {
			return total, err
		}
	}
	return total, nil
}

// runsUse reports whether a Run in the cache (of namespace, or of any when empty) uses
// the stored content key.
func (j *StoreJanitor) runsUse(ctx context.Context, namespace, key string) (bool, error) {
	var runs aiasv1alpha1.RunList
	opts := []client.ListOption{client.MatchingFields{IndexRunStoredContent: key}, client.UnsafeDisableDeepCopy}
	if namespace != "" {
		opts = append(opts, client.InNamespace(namespace))
	}
	if err := j.Runs.List(ctx, &runs, opts...); err != nil {
		return false, err
	}
	return len(runs.Items) > 0, nil
}

func (j *StoreJanitor) orphanGrace() time.Duration {
	if j.OrphanGrace > 0 {
		return j.OrphanGrace
	}
	return store.OrphanGrace
}
