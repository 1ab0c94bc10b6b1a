package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
)

// Deleting a Run while its steps still write (the finalizer runs before the Pods' grace
// period is over) leaves none of their rows behind: every write either lands before
// DeleteRun and is deleted with the rest, or is refused with ErrRunGone.
func TestDeleteRunLeavesNoLateRows(t *testing.T) {
	ctx := context.Background()
	uid := fmt.Sprintf("7a1d3c2a-0000-4000-8000-%012d", time.Now().UnixNano()%1e12)
	var wg sync.WaitGroup
	var deleted atomic.Bool
	var written, refused atomic.Int64
	stop := make(chan struct{})
	for w := range 6 {
		wg.Go(func() {
			for i := 1; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				startedAfterDelete := deleted.Load()
				var err error
				switch w % 3 {
				case 0:
					_, err = testStore.AppendLogs(ctx, LogTarget{Namespace: "ns", RunUID: uid, Step: fmt.Sprint("s", w), Attempt: 1},
						[]stepjob.LogLine{{Stream: "stdout", Seq: int64(i), Time: time.Now(), Line: "x"}})
				case 1:
					_, err = testStore.PutArtifact(ctx, ArtifactKey{Namespace: "ns", RunName: "r", RunUID: uid, Step: fmt.Sprint("s", w), Attempt: 1, Name: fmt.Sprint("a", i)},
						"text/plain", strings.NewReader(fmt.Sprint(uid, w, i)), 1<<20, "")
				case 2:
					big := bytes.Repeat([]byte{byte(i)}, 70<<10) // the streaming path
					_, err = testStore.PutArtifact(ctx, ArtifactKey{Namespace: "ns", RunName: "r", RunUID: uid, Step: fmt.Sprint("s", w), Attempt: 1, Name: fmt.Sprint("b", i)},
						"application/octet-stream", bytes.NewReader(big), 1<<20, "")
				}
				switch {
				case errors.Is(err, ErrRunGone):
					refused.Add(1)
				case err != nil:
					t.Error(err)
					return
				case startedAfterDelete:
					// Began after DeleteRun returned and was stored: what must not happen.
					t.Errorf("writer %d: write %d accepted after the run was deleted", w, i)
					return
				default:
					written.Add(1)
				}
			}
		})
	}
	time.Sleep(300 * time.Millisecond)
	if err := testStore.DeleteRun(ctx, uid); err != nil {
		t.Fatal(err)
	}
	deleted.Store(true)
	time.Sleep(200 * time.Millisecond)
	close(stop)
	wg.Wait()
	var logs, artifacts int
	if err := testStore.pool.QueryRow(ctx, `select (select count(*) from run_logs where run_uid = $1), (select count(*) from artifacts where run_uid = $1)`, uid).Scan(&logs, &artifacts); err != nil {
		t.Fatal(err)
	}
	if logs != 0 || artifacts != 0 {
		t.Errorf("after DeleteRun: %d log lines and %d artifacts of the run remain", logs, artifacts)
	}
	if written.Load() == 0 || refused.Load() == 0 {
		t.Errorf("the race was not exercised: %d writes before the delete, %d refused after", written.Load(), refused.Load())
	}
	if err := testStore.RecordStepOutcome(ctx, uid, "s0", 1, StepOutcome{ExitCode: 0}); !errors.Is(err, ErrRunGone) {
		t.Errorf("an outcome for a deleted run: %v, want ErrRunGone", err)
	}
}

// AttemptOpen tells a live attempt from an ended one, an ended Run and a deleted Run.
func TestAttemptOpen(t *testing.T) {
	ctx := context.Background()
	uid := fmt.Sprintf("7b1d3c2a-0000-4000-8000-%012d", time.Now().UnixNano()%1e12)
	if err := testStore.AttemptOpen(ctx, uid, "s", 1); !errors.Is(err, ErrRunGone) {
		t.Errorf("unindexed run: %v", err)
	}
	rec := RunRecord{UID: uid, Namespace: "ns", Name: "r", Workflow: "wf", Phase: "Running", Trigger: "Manual", CreatedAt: time.Now()}
	if err := testStore.UpsertRun(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := testStore.AttemptOpen(ctx, uid, "s", 1); err != nil {
		t.Errorf("running attempt: %v", err)
	}
	if err := testStore.RecordStepOutcome(ctx, uid, "s", 1, StepOutcome{ExitCode: 1}); err != nil {
		t.Fatal(err)
	}
	if err := testStore.AttemptOpen(ctx, uid, "s", 1); !errors.Is(err, ErrAttemptEnded) {
		t.Errorf("reported attempt: %v", err)
	}
	if err := testStore.AttemptOpen(ctx, uid, "s", 2); err != nil {
		t.Errorf("the next attempt: %v", err)
	}
	now := time.Now()
	rec.Phase, rec.FinishedAt = "Succeeded", &now
	if err := testStore.UpsertRun(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if err := testStore.AttemptOpen(ctx, uid, "s", 2); !errors.Is(err, ErrRunEnded) {
		t.Errorf("finished run: %v", err)
	}
	if err := testStore.DeleteRun(ctx, uid); err != nil {
		t.Fatal(err)
	}
	if err := testStore.AttemptOpen(ctx, uid, "s", 2); !errors.Is(err, ErrRunGone) {
		t.Errorf("deleted run: %v", err)
	}
	if n, err := testStore.PurgeDeletedRuns(ctx, time.Now().Add(time.Minute), 1000); err != nil || n < 1 {
		t.Errorf("purging tombstones: %d %v", n, err)
	}
}
