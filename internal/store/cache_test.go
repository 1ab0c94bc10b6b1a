package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
)

// A cache hit taken twice (a manager that stopped between taking it and writing the
// step's status, then decided again) copies the outputs once; entries never cross
// namespaces, and go with their source Run.
func TestStepCacheTakeTwiceAndScope(t *testing.T) {
	ctx := context.Background()
	uid := func(n int) string {
		return fmt.Sprintf("7a1d3c2a-0000-4000-8000-%012d", time.Now().UnixNano()%1e11*10+int64(n))
	}
	src, dst := uid(1), uid(2)
	if _, err := testStore.PutArtifact(ctx, ArtifactKey{Namespace: "ns-a", RunName: "src", RunUID: src, Step: "build", Attempt: 1, Name: "result"},
		"application/json", strings.NewReader(`{"ok":true}`), 1<<20, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.AppendLogs(ctx, LogTarget{Namespace: "ns-a", RunUID: src, Step: "build", Attempt: 1},
		[]stepjob.LogLine{{Stream: "stdout", Seq: 1, Time: time.Now(), Line: "built"}}); err != nil {
		t.Fatal(err)
	}
	e := CacheEntry{Namespace: "ns-a", Key: "sha256:k-" + src, RunUID: src, RunName: "src", Step: "build", Attempt: 1, OutputDigest: "d", FinishedAt: time.Now()}
	if err := testStore.RecordCache(ctx, e); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.LookupCache(ctx, "ns-b", e.Key, time.Now().Add(-time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup from another namespace: %v, want ErrNotFound", err)
	}
	found, err := testStore.LookupCache(ctx, "ns-a", e.Key, time.Now().Add(-time.Hour))
	if err != nil || found.RunUID != src {
		t.Fatalf("lookup: %+v, %v", found, err)
	}
	target := CacheTarget{Namespace: "ns-a", RunUID: dst, RunName: "dst", Step: "build"}
	for range 2 {
		if err := testStore.TakeCached(ctx, target, found); err != nil {
			t.Fatal(err)
		}
	}
	arts, err := testStore.ListArtifacts(ctx, dst)
	if err != nil || len(arts) != 1 || arts[0].Attempt != 1 {
		t.Errorf("copied artifacts %+v, %v; want the one result, once", arts, err)
	}
	lines, err := testStore.ReadLogs(ctx, LogTarget{RunUID: dst, Step: "build", Attempt: 1}, "stdout", 0, 10)
	if err != nil || len(lines) != 1 {
		t.Errorf("copied logs %+v, %v; want one line, once", lines, err)
	}
	// The source Run's deletion takes its entry with it: nothing points at deleted outputs.
	if err := testStore.DeleteRun(ctx, src); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.LookupCache(ctx, "ns-a", e.Key, time.Now().Add(-time.Hour)); !errors.Is(err, ErrNotFound) {
		t.Errorf("lookup after the source Run's deletion: %v, want ErrNotFound", err)
	}
	if err := testStore.TakeCached(ctx, CacheTarget{Namespace: "ns-a", RunUID: uid(3), RunName: "late", Step: "build"}, found); !errors.Is(err, ErrNotFound) {
		t.Errorf("taking a deleted entry: %v, want ErrNotFound", err)
	}
	_ = testStore.DeleteRun(ctx, dst)
}
