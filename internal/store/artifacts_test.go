package store

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
)

// content is n bytes unique to tag (n past smallArtifactBytes takes the streaming path).
func content(tag string, n int) []byte {
	b := bytes.Repeat([]byte{'.'}, n)
	copy(b, tag)
	return b
}

func blobStored(t *testing.T, digest string) bool {
	t.Helper()
	blobs := count(t, `select count(*) from blobs where digest = $1`, digest)
	chunks := count(t, `select count(*) from blob_chunks where digest = $1`, digest)
	if (blobs == 0) != (chunks == 0) {
		t.Errorf("blob %s: %d blob rows, %d chunks", digest, blobs, chunks)
	}
	return blobs > 0
}

// Re-uploading under the same name replaces the content and deletes the old one, on both
// paths (group-committed small artifacts, streamed large ones) and across them; content
// another artifact still references stays.
func TestArtifactReplacementDropsOldContent(t *testing.T) {
	ctx := context.Background()
	uid := newUID(t)
	small, large := smallArtifactBytes/2, smallArtifactBytes*3
	versions := [][]byte{
		content(uid+" v1", small), content(uid+" v2", small), // small → small
		content(uid+" v3", large), content(uid+" v4", large), // small → large → large
		content(uid+" v5", small), // large → small
	}
	var prev string
	for i, v := range versions {
		a, err := testStore.PutArtifact(ctx, key(uid, "report"), "text/plain", bytes.NewReader(v), 0, sha(v))
		if err != nil {
			t.Fatalf("upload %d: %v", i+1, err)
		}
		if !blobStored(t, a.Digest) {
			t.Errorf("upload %d: its blob is missing", i+1)
		}
		if prev != "" && blobStored(t, prev) {
			t.Errorf("upload %d left the content it replaced (%s) behind", i+1, prev)
		}
		prev = a.Digest
	}
	if n := count(t, `select count(*) from artifacts where run_uid = $1`, uid); n != 1 {
		t.Errorf("%d artifact rows, want 1", n)
	}

	// Content shared with another artifact survives the replacement of one of them.
	shared := content(uid+" shared", small)
	if _, err := testStore.PutArtifact(ctx, key(uid, "a"), "text/plain", bytes.NewReader(shared), 0, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.PutArtifact(ctx, key(uid, "b"), "text/plain", bytes.NewReader(shared), 0, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.PutArtifact(ctx, key(uid, "a"), "text/plain", bytes.NewReader(content(uid+" new", small)), 0, ""); err != nil {
		t.Fatal(err)
	}
	if !blobStored(t, sha(shared)) {
		t.Errorf("content artifact b still references was deleted")
	}
	// Re-uploading the same content keeps it.
	if _, err := testStore.PutArtifact(ctx, key(uid, "b"), "text/plain", bytes.NewReader(shared), 0, ""); err != nil {
		t.Fatal(err)
	}
	if !blobStored(t, sha(shared)) {
		t.Errorf("re-uploading identical content deleted it")
	}
}

// Concurrent uploads of one name (retries overlapping the upload they retry, first uploads
// included) leave exactly the winner's content, on both paths.
func TestConcurrentReplacementsLeaveOneBlob(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{100, smallArtifactBytes * 2} {
		uid := newUID(t)
		var wg sync.WaitGroup
		digests := make([]string, 12)
		for round := range 3 {
			for i := range 4 {
				n := round*4 + i
				v := content(fmt.Sprintf("%s %d", uid, n), size)
				digests[n] = sha(v)
				wg.Go(func() {
					if _, err := testStore.PutArtifact(ctx, key(uid, "out"), "text/plain", bytes.NewReader(v), 0, ""); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
		var kept []string
		for _, d := range digests {
			if blobStored(t, d) {
				kept = append(kept, d)
			}
		}
		a, err := testStore.FindArtifact(ctx, uid, "build", "out", 1)
		if err != nil {
			t.Fatal(err)
		}
		if len(kept) != 1 || kept[0] != a.Digest {
			t.Errorf("size %d: blobs kept %v, want only the artifact's %s", size, kept, a.Digest)
		}
	}
}
