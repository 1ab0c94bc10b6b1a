package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	mathrand "math/rand/v2"
	"sync"
	"testing"
	"time"
)

func newUID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(b)
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}

func key(uid, name string) ArtifactKey {
	return ArtifactKey{Namespace: "acme", RunName: "run-1", RunUID: uid, Step: "build", Attempt: 1, Name: name}
}

func sha(b []byte) string { s := sha256.Sum256(b); return "sha256:" + hex.EncodeToString(s[:]) }

func count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := testStore.pool.QueryRow(context.Background(), query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Several replicas start together: all of them must get a migrated database.
func TestMigrationsRunConcurrently(t *testing.T) {
	ctx := context.Background()
	url, drop, err := pgServer.CreateDatabase(ctx, "aias_migrate_test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = drop(ctx) }()
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Go(func() {
			s, err := Open(ctx, url)
			if err == nil {
				s.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
	}
}

func TestArtifactRoundTripAndDedup(t *testing.T) {
	ctx := context.Background()
	content := []byte(`{"ok":true}`)
	uidA, uidB := newUID(t), newUID(t)
	a, err := testStore.PutArtifact(ctx, key(uidA, "result"), "application/json", bytes.NewReader(content), 0, sha(content))
	if err != nil {
		t.Fatal(err)
	}
	if a.Digest != sha(content) || a.Size != int64(len(content)) {
		t.Fatalf("artifact = %+v", a)
	}
	if _, err := testStore.PutArtifact(ctx, key(uidB, "copy"), "application/json", bytes.NewReader(content), 0, ""); err != nil {
		t.Fatal(err)
	}
	if n := count(t, `select count(*) from blob_chunks where digest = $1`, a.Digest); n != 1 {
		t.Errorf("identical content stored %d times, want once", n)
	}
	r, size, err := testStore.OpenBlob(ctx, a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(r)
	if !bytes.Equal(got, content) || size != int64(len(content)) {
		t.Errorf("read back %q (%d), want %q", got, size, content)
	}
	if _, err := testStore.PutArtifact(ctx, key(uidA, "bad"), "text/plain", bytes.NewReader(content), 0, sha([]byte("other"))); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("announced wrong digest: err = %v, want ErrDigestMismatch", err)
	}

	// Deleting run A keeps the blob run B still references; deleting B removes it.
	if err := testStore.DeleteRun(ctx, uidA); err != nil {
		t.Fatal(err)
	}
	if n := count(t, `select count(*) from blobs where digest = $1`, a.Digest); n != 1 {
		t.Errorf("shared blob deleted with run A")
	}
	if err := testStore.DeleteRun(ctx, uidB); err != nil {
		t.Fatal(err)
	}
	if n := count(t, `select count(*) from blob_chunks where digest = $1`, a.Digest); n != 0 {
		t.Errorf("orphaned blob chunks left after both runs were deleted")
	}
}

// A 10 MiB output is written and read back in 1 MiB chunks, never whole.
func TestLargeArtifactStreams(t *testing.T) {
	ctx := context.Background()
	const size = 10 << 20
	src := mathrand.NewChaCha8([32]byte{7})
	h := sha256.New()
	body := io.TeeReader(io.LimitReader(src, size), h)
	a, err := testStore.PutArtifact(ctx, key(newUID(t), "big.bin"), "application/octet-stream", body, 0, "")
	if err != nil {
		t.Fatal(err)
	}
	want := "sha256:" + hex.EncodeToString(h.Sum(nil))
	if a.Digest != want || a.Size != size {
		t.Fatalf("artifact %s/%d, want %s/%d", a.Digest, a.Size, want, size)
	}
	if n := count(t, `select count(*) from blob_chunks where digest = $1`, a.Digest); n != size/chunkSize {
		t.Errorf("%d chunks, want %d", n, size/chunkSize)
	}
	r, _, err := testStore.OpenBlob(ctx, a.Digest)
	if err != nil {
		t.Fatal(err)
	}
	rh := sha256.New()
	if _, err := io.Copy(rh, r); err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + hex.EncodeToString(rh.Sum(nil)); got != want {
		t.Errorf("read back %s, want %s", got, want)
	}
}

func TestOverLimitUploadStoresNothing(t *testing.T) {
	ctx := context.Background()
	before := count(t, `select count(*) from blob_chunks`)
	uid := newUID(t)
	body := io.LimitReader(mathrand.NewChaCha8([32]byte{9}), 3*chunkSize+10)
	_, err := testStore.PutArtifact(ctx, key(uid, "big"), "application/octet-stream", body, 3*chunkSize, "")
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", err)
	}
	if after := count(t, `select count(*) from blob_chunks`); after != before {
		t.Errorf("chunks %d -> %d: partial upload left behind", before, after)
	}
	if n := count(t, `select count(*) from artifacts where run_uid = $1`, uid); n != 0 {
		t.Errorf("artifact row recorded for a refused upload")
	}
}

// Two writers append interleaved batches (one per stream), one batch is retried; every
// stream reads back complete, in order and without duplicates.
func TestLogsKeepOrderAndIgnoreRetries(t *testing.T) {
	ctx := context.Background()
	target := LogTarget{Namespace: "acme", RunUID: newUID(t), Step: "build", Attempt: 1}
	const perStream, batch = 500, 25
	var wg sync.WaitGroup
	for _, stream := range []string{"stdout", "stderr"} {
		wg.Go(func() {
			for start := 0; start < perStream; start += batch {
				lines := make([]LogLine, batch)
				for i := range lines {
					seq := int64(start + i + 1)
					lines[i] = LogLine{Stream: stream, Seq: seq, Time: time.Now(), Line: fmt.Sprintf("%s line %d", stream, seq)}
				}
				if _, err := testStore.AppendLogs(ctx, target, lines); err != nil {
					t.Error(err)
					return
				}
				if start == 100 { // the response was "lost": the writer sends the batch again
					if n, err := testStore.AppendLogs(ctx, target, lines); err != nil || n != 0 {
						t.Errorf("retried batch: inserted %d, err %v; want 0, nil", n, err)
					}
				}
			}
		})
	}
	wg.Wait()
	for _, stream := range []string{"stdout", "stderr"} {
		got, err := testStore.ReadLogs(ctx, target, stream, 0, 10000)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != perStream {
			t.Fatalf("%s: %d lines, want %d", stream, len(got), perStream)
		}
		for i, l := range got {
			if want := fmt.Sprintf("%s line %d", stream, i+1); l.Line != want {
				t.Fatalf("%s line %d = %q, want %q", stream, i, l.Line, want)
			}
		}
	}
	if err := testStore.DeleteRun(ctx, target.RunUID); err != nil {
		t.Fatal(err)
	}
	if n := count(t, `select count(*) from run_logs where run_uid = $1`, target.RunUID); n != 0 {
		t.Errorf("%d log lines left after DeleteRun", n)
	}
}
