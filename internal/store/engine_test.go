package store

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
)

// Twenty Runs of one Workflow race for three slots: exactly three win, a winner asking
// again still holds its slot, and a released slot goes to the next claimant.
func TestClaimSlotNeverExceedsTheLimit(t *testing.T) {
	ctx := context.Background()
	uids := make([]string, 20)
	for i := range uids {
		uids[i] = newUID(t)
	}
	var won atomic.Int32
	var winners sync.Map
	var wg sync.WaitGroup
	for _, uid := range uids {
		wg.Go(func() {
			held, err := testStore.ClaimSlot(ctx, SlotClaim{RunUID: uid, Namespace: "acme", Workflow: "deploy", Max: 3})
			if err != nil {
				t.Error(err)
			}
			if held {
				won.Add(1)
				winners.Store(uid, true)
			}
		})
	}
	wg.Wait()
	if won.Load() != 3 {
		t.Fatalf("%d runs hold a slot, want 3", won.Load())
	}
	var first, loser string
	for _, uid := range uids {
		if _, ok := winners.Load(uid); ok && first == "" {
			first = uid
		} else if !ok && loser == "" {
			loser = uid
		}
	}
	if held, err := testStore.ClaimSlot(ctx, SlotClaim{RunUID: first, Namespace: "acme", Workflow: "deploy", Max: 3}); err != nil || !held {
		t.Errorf("re-claim by a holder: %v, %v", held, err)
	}
	if err := testStore.ReleaseSlot(ctx, first); err != nil {
		t.Fatal(err)
	}
	if held, err := testStore.ClaimSlot(ctx, SlotClaim{RunUID: loser, Namespace: "acme", Workflow: "deploy", Max: 3}); err != nil || !held {
		t.Errorf("claim after a release: %v, %v", held, err)
	}
	// Another Workflow's slots are its own; Max 0 means no limit.
	if held, err := testStore.ClaimSlot(ctx, SlotClaim{RunUID: newUID(t), Namespace: "acme", Workflow: "other", Max: 0}); err != nil || !held {
		t.Errorf("unlimited claim: %v, %v", held, err)
	}
	for _, uid := range uids {
		if err := testStore.DeleteRun(ctx, uid); err != nil {
			t.Fatal(err)
		}
	}
	if n := count(t, `select count(*) from run_slots where workflow = 'deploy'`); n != 0 {
		t.Errorf("%d slots left after the runs were deleted", n)
	}
}

func TestWorkflowSpecsAndOutcomes(t *testing.T) {
	ctx := context.Background()
	spec := []byte(`{"steps":[{"name":"a"}]}`)
	d1, err := testStore.PutWorkflowSpec(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := testStore.PutWorkflowSpec(ctx, spec)
	if d1 != d2 || d1 != sha(spec) {
		t.Errorf("digests %s %s, want %s", d1, d2, sha(spec))
	}
	got, err := testStore.WorkflowSpec(ctx, d1)
	if err != nil || string(got) != string(spec) {
		t.Errorf("spec %q, %v", got, err)
	}
	if _, err := testStore.WorkflowSpec(ctx, sha([]byte("nope"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing spec: %v", err)
	}
	uid := newUID(t)
	if _, err := testStore.StepAttemptOutcome(ctx, uid, "a", 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing outcome: %v", err)
	}
	for _, code := range []int{1, 3} { // a repeated report replaces the first
		if err := testStore.RecordStepOutcome(ctx, uid, "a", 1, StepOutcome{ExitCode: code, Message: "exited"}); err != nil {
			t.Fatal(err)
		}
	}
	if o, err := testStore.StepAttemptOutcome(ctx, uid, "a", 1); err != nil || o.ExitCode != 3 {
		t.Errorf("outcome %+v, %v", o, err)
	}
	if err := testStore.DeleteRun(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if n := count(t, `select count(*) from step_outcomes where run_uid = $1`, uid); n != 0 {
		t.Errorf("outcomes left after DeleteRun")
	}
}
