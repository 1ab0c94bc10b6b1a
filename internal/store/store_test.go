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
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
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

// liveHeapProbe records the largest live heap (after a full GC) seen at each MiB of a stream.
type liveHeapProbe struct {
	seen, next int64
	peak       uint64
}

func (p *liveHeapProbe) observe(n int) {
	p.seen += int64(n)
	if p.seen < p.next {
		return
	}
	p.next = p.seen + 1<<20
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	p.peak = max(p.peak, m.HeapAlloc)
}

type probedReader struct {
	r io.Reader
	p *liveHeapProbe
}

func (r probedReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.observe(n)
	return n, err
}

type probedWriter struct {
	w io.Writer
	p *liveHeapProbe
}

func (w probedWriter) Write(b []byte) (int, error) { w.p.observe(len(b)); return w.w.Write(b) }

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// A 10 MiB output is written and read back in 1 MiB chunks, never whole: the live heap
// stays within a few chunks of where it started, in both directions.
func TestLargeArtifactStreams(t *testing.T) {
	ctx := context.Background()
	const size = 10 << 20
	const allowance = 4 * chunkSize // the read-ahead buffer, pgx's write buffer, slack
	src := mathrand.NewChaCha8([32]byte{7})
	h := sha256.New()
	up := &liveHeapProbe{}
	base := liveHeap()
	body := probedReader{io.TeeReader(io.LimitReader(src, size), h), up}
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
	down := &liveHeapProbe{}
	if _, err := io.Copy(probedWriter{rh, down}, r); err != nil {
		t.Fatal(err)
	}
	if got := "sha256:" + hex.EncodeToString(rh.Sum(nil)); got != want {
		t.Errorf("read back %s, want %s", got, want)
	}
	for what, p := range map[string]*liveHeapProbe{"upload": up, "download": down} {
		t.Logf("%s: live heap peaked %d KiB above the start", what, (int64(p.peak)-int64(base))/1024)
		if p.peak > base+allowance {
			t.Errorf("%s held %d KiB live for a %d KiB artifact: it is buffering, not streaming", what, (p.peak-base)/1024, size/1024)
		}
	}
}

// Concurrent small uploads share commits (the group committer) and still each get
// their own record; identical content is stored once; a key uploaded twice keeps one row.
func TestSmallArtifactsGroupCommit(t *testing.T) {
	ctx := context.Background()
	uid := newUID(t)
	shared := []byte(`{"same":"content"}`)
	var wg sync.WaitGroup
	const n = 200
	results := make([]Artifact, n)
	for i := range n {
		wg.Go(func() {
			body := []byte(fmt.Sprintf(`{"i":%d}`, i))
			if i%4 == 0 {
				body = shared
			}
			name := fmt.Sprintf("a%03d", i)
			if i >= n-10 {
				name = "same-key" // ten racing uploads of one key
			}
			a, err := testStore.PutArtifact(ctx, key(uid, name), "application/json", bytes.NewReader(body), 0, sha(body))
			if err != nil {
				t.Error(err)
				return
			}
			if a.Digest != sha(body) || a.Size != int64(len(body)) || a.CreatedAt.IsZero() {
				t.Errorf("upload %d came back as %+v", i, a)
			}
			results[i] = a
		})
	}
	wg.Wait()
	if got := count(t, `select count(*) from artifacts where run_uid = $1`, uid); got != n-9 {
		t.Errorf("%d artifact rows, want %d", got, n-9)
	}
	if got := count(t, `select count(*) from blob_chunks where digest = $1`, sha(shared)); got != 1 {
		t.Errorf("shared content stored %d times, want once", got)
	}
	list, err := testStore.ListArtifacts(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		r, _, err := testStore.OpenBlob(ctx, a.Digest)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		if sha(b) != a.Digest {
			t.Errorf("%s reads back as %s, want %s", a.Name, sha(b), a.Digest)
		}
	}
	// An empty artifact is a valid output too.
	if a, err := testStore.PutArtifact(ctx, key(uid, "empty"), "text/plain", bytes.NewReader(nil), 0, ""); err != nil || a.Size != 0 {
		t.Errorf("empty artifact: %+v, %v", a, err)
	}
	if _, err := testStore.PutArtifact(ctx, key(uid, "wrong"), "text/plain", bytes.NewReader([]byte("x")), 0, sha([]byte("y"))); !errors.Is(err, ErrDigestMismatch) {
		t.Errorf("small upload with the wrong digest: %v, want ErrDigestMismatch", err)
	}
	if err := testStore.DeleteRun(ctx, uid); err != nil {
		t.Fatal(err)
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
				lines := make([]stepjob.LogLine, batch)
				for i := range lines {
					seq := int64(start + i + 1)
					lines[i] = stepjob.LogLine{Stream: stream, Seq: seq, Time: time.Now(), Line: fmt.Sprintf("%s line %d", stream, seq)}
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
				if start == 200 { // a resend that overlaps: its first half is stored, its second is new
					next := make([]stepjob.LogLine, batch)
					for i := range next {
						seq := int64(start + batch/2 + i + 1)
						next[i] = stepjob.LogLine{Stream: stream, Seq: seq, Time: time.Now(), Line: fmt.Sprintf("%s line %d", stream, seq)}
					}
					if n, err := testStore.AppendLogs(ctx, target, next); err != nil || n != int64(batch/2) {
						t.Errorf("overlapping batch: inserted %d, err %v; want %d, nil", n, err, batch/2)
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

// FindArtifact picks one artifact of a step: the latest attempt's unless one is named.
func TestFindArtifact(t *testing.T) {
	ctx := context.Background()
	uid := newUID(t)
	for attempt, body := range map[int]string{1: "first", 2: "second"} {
		k := key(uid, "report.txt")
		k.Attempt = attempt
		if _, err := testStore.PutArtifact(ctx, k, "text/plain", strings.NewReader(body), 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	k := key(uid, "report.txt")
	if a, err := testStore.FindArtifact(ctx, uid, k.Step, "report.txt", 0); err != nil || a.Attempt != 2 || a.Size != int64(len("second")) {
		t.Errorf("latest: %+v, %v", a, err)
	}
	if a, err := testStore.FindArtifact(ctx, uid, k.Step, "report.txt", 1); err != nil || a.Attempt != 1 || a.Size != int64(len("first")) {
		t.Errorf("attempt 1: %+v, %v", a, err)
	}
	if _, err := testStore.FindArtifact(ctx, uid, k.Step, "report.txt", 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("attempt 3: %v, want ErrNotFound", err)
	}
}
