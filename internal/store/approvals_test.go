package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// The first decision on a gate wins; a second gets ErrAlreadyDecided with the first; a
// deleted Run takes no decision and loses those it had.
func TestRecordApproval(t *testing.T) {
	ctx := context.Background()
	st := testStore
	run := fmt.Sprintf("7a1d3c2a-0000-4000-8000-%012d", time.Now().UnixNano()%1e12)
	first, err := st.RecordApproval(ctx, Approval{RunUID: run, Namespace: "ns", Step: "prod", Decision: "Approved", By: "alice", Comment: "LGTM"})
	if err != nil || first.By != "alice" || first.DecidedAt.IsZero() {
		t.Fatalf("first decision: %+v, %v", first, err)
	}
	again, err := st.RecordApproval(ctx, Approval{RunUID: run, Namespace: "ns", Step: "prod", Decision: "Rejected", By: "mallory"})
	if !errors.Is(err, ErrAlreadyDecided) || again.By != "alice" || again.Decision != "Approved" {
		t.Fatalf("second decision: %+v, %v; want ErrAlreadyDecided with alice's", again, err)
	}
	got, err := st.Approvals(ctx, run)
	if err != nil || len(got) != 1 || got["prod"].Comment != "LGTM" {
		t.Fatalf("approvals %+v, %v", got, err)
	}
	if err := st.DeleteRun(ctx, run); err != nil {
		t.Fatal(err)
	}
	if got, _ := st.Approvals(ctx, run); len(got) != 0 {
		t.Errorf("approvals after the Run's deletion: %+v", got)
	}
	if _, err := st.RecordApproval(ctx, Approval{RunUID: run, Namespace: "ns", Step: "other", Decision: "Approved", By: "alice"}); !errors.Is(err, ErrRunGone) {
		t.Errorf("decision on a deleted Run: %v, want ErrRunGone", err)
	}
}
