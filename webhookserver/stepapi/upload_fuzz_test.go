package stepapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// fuzzUploadMax is --max-artifact-bytes of FuzzStepAPIUploadTimings: past the sizes where
// an upload changes course (64 KiB: group committed; 1 MiB: spooled to a file, and the
// store's chunk size) with room to spare.
const fuzzUploadMax = 3<<20 + 5

// splitReader hands out its content in reads of sizes taken in turn from pattern, now and
// then after a short pause: a client on a real network, in sizes and timings the fuzzer
// picks.
type splitReader struct {
	data    []byte
	pattern []byte
	next    int
	pauses  int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	b := byte(0)
	if len(r.pattern) > 0 {
		b = r.pattern[r.next%len(r.pattern)]
		r.next++
	}
	// 1 byte to 128 KiB, never so small that a large body takes thousands of reads.
	piece := max(1<<(b%18)+int(b), len(r.data)/64, 1)
	if b%8 == 0 && r.pauses < 16 {
		r.pauses++
		time.Sleep(time.Duration(b%3) * time.Millisecond)
	}
	n := copy(p[:min(len(p), piece)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// FuzzStepAPIUploadTimings holds uploads to their contract over sizes and timings: one to
// three uploads at once to one attempt of a Run with an artifact cap, each of a size, in
// reads of sizes and with pauses, with or without Content-Length, announcing its digest,
// a wrong one or none, as the fuzzer picks. Whatever it picks: an upload is answered 201
// and stored whole (the content and digest sent) or refused with a clean 4xx for a reason
// that applies, and stores nothing; never a partial artifact, never a 5xx; and the Run's
// stored bytes never exceed its cap.
//
// Each input is a few uploads of up to 3 MiB through PostgreSQL (about 20 ms), so
// hack/fuzz.sh gives it a tenth of the executions of the others:
//
// fuzz:scale 10
func FuzzStepAPIUploadTimings(f *testing.F) {
	f.Add(uint32(10), uint32(1<<20), []byte{3}, uint8(0), uint64(1))
	f.Add(uint32(64<<10), uint32(1<<20), []byte{0, 17, 5}, uint8(1), uint64(2))
	f.Add(uint32(64<<10+1), uint32(100<<10), []byte{16, 8}, uint8(2), uint64(3))
	f.Add(uint32(1<<20), uint32(4<<20), []byte{1, 2, 3, 200}, uint8(0), uint64(4))
	f.Add(uint32(1<<20+1), uint32(2<<20), []byte{9}, uint8(2), uint64(5))
	f.Add(uint32(fuzzUploadMax+1), uint32(8<<20), []byte{}, uint8(0), uint64(6))
	f.Add(uint32(0), uint32(0), []byte{255}, uint8(1), uint64(7))
	iss, err := steptoken.NewIssuer(bytes.Repeat([]byte("u"), 32))
	if err != nil {
		f.Fatal(err)
	}
	srv := httptest.NewServer((&Server{Store: testStore, Tokens: iss, MaxArtifactBytes: fuzzUploadMax, MaxLogBatch: fuzzBatch}).Handler())
	defer srv.Close()
	f.Fuzz(func(t *testing.T, size, capBytes uint32, pattern []byte, uploads uint8, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, uint64(size)))
		run := steptoken.Run{Namespace: "acme", Name: "fuzz-upload", UID: servertest.FreshUID()}
		artifactCap := int64(capBytes % (2 * fuzzUploadMax))
		if err := testStore.SetRunLimits(context.Background(), run.UID, store.RunLimits{ArtifactBytes: &artifactCap}); err != nil {
			t.Fatal(err)
		}
		at := newAttempt(t, iss, run, "build", 1)
		type upload struct {
			name, digest string
			body         []byte
			wrongDigest  bool
			code         int
			resp         map[string]any
		}
		ups := make([]*upload, 1+int(uploads%3))
		for i := range ups {
			n := (int(size) + i*rng.IntN(1<<20)) % (fuzzUploadMax + 64<<10)
			u := &upload{name: fmt.Sprintf("out%d", i), body: make([]byte, n)}
			var key [32]byte
			key[0], key[1] = byte(seed), byte(i)
			_, _ = rand.NewChaCha8(key).Read(u.body)
			sum := sha256.Sum256(u.body)
			switch rng.IntN(3) {
			case 1:
				u.digest = "sha256:" + hex.EncodeToString(sum[:])
			case 2:
				sum[0] ^= 1
				u.digest, u.wrongDigest = "sha256:"+hex.EncodeToString(sum[:]), true
			}
			ups[i] = u
		}
		var wg sync.WaitGroup
		for _, u := range ups {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := at.request(http.MethodPut, srv.URL, stepjob.PathArtifacts+u.name, "application/octet-stream",
					&splitReader{data: u.body, pattern: pattern})
				if rng.IntN(2) == 0 { // else unknown: chunked
					req.ContentLength = int64(len(u.body))
					if len(u.body) == 0 {
						req.Body = http.NoBody
					}
				}
				if u.digest != "" {
					req.Header.Set(stepjob.DigestHeader, u.digest)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Errorf("upload %s of %d bytes: %v", u.name, len(u.body), err)
					return
				}
				u.code, u.resp = resp.StatusCode, decodeBody(resp)
			}()
		}
		wg.Wait()
		arts, err := testStore.ListArtifacts(context.Background(), run.UID)
		if err != nil {
			t.Fatal(err)
		}
		stored := map[string]store.Artifact{}
		var total int64
		for _, a := range arts {
			stored[a.Name] = a
			total += a.Size
		}
		if total > artifactCap {
			t.Errorf("the run stores %d bytes, over its cap of %d", total, artifactCap)
		}
		for _, u := range ups {
			a, ok := stored[u.name]
			sum := sha256.Sum256(u.body)
			switch {
			case u.code == 0: // the request failed (reported above)
			case u.code == http.StatusCreated:
				if u.wrongDigest || len(u.body) > fuzzUploadMax {
					t.Errorf("upload %s of %d bytes (wrong digest %v) accepted: %v", u.name, len(u.body), u.wrongDigest, u.resp)
				}
				if !ok || a.Size != int64(len(u.body)) || a.Digest != "sha256:"+hex.EncodeToString(sum[:]) || !bytes.Equal(readBlob(t, a.Digest), u.body) {
					t.Errorf("upload %s of %d bytes answered 201 but stored %+v", u.name, len(u.body), a)
				}
			case u.code < 400 || u.code >= 500:
				t.Errorf("upload %s of %d bytes: %d %v, want 201 or a 4xx", u.name, len(u.body), u.code, u.resp)
			case ok:
				t.Errorf("upload %s refused (%d %v) but stored %+v", u.name, u.code, u.resp, a)
			default:
				valid := map[string]bool{"RunArtifactQuota": true, "TooLarge": len(u.body) > fuzzUploadMax, "DigestMismatch": u.wrongDigest}
				if reason, _ := u.resp["reason"].(string); !valid[reason] {
					t.Errorf("upload %s of %d bytes (wrong digest %v) refused: %d %v", u.name, len(u.body), u.wrongDigest, u.code, u.resp)
				}
			}
		}
	})
}
