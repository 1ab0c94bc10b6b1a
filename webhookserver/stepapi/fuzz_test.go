package stepapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// The fuzz targets hold the internal step API to its contract for any input: it never
// panics or answers 5xx (the store is up, so a 5xx means content the API let through and
// the store refused, which step-run would resend forever), it stores a request whole
// exactly when the request is valid (by the rules written out again here), and it never
// stores past a cap. `make fuzz` runs them (hack/fuzz.sh).

const (
	fuzzLogCap      = 4096 // the Run's logBytesPerRun
	fuzzArtifactCap = 1024 // the Run's artifactBytesPerRun
	fuzzBatch       = 20   // --max-log-batch
)

func fuzzServer(t testing.TB) (*Server, *steptoken.Issuer) {
	iss, err := steptoken.NewIssuer(bytes.Repeat([]byte("f"), 32))
	if err != nil {
		t.Fatal(err)
	}
	return &Server{Store: testStore, Tokens: iss, MaxArtifactBytes: 2 * fuzzArtifactCap, MaxLogBatch: fuzzBatch}, iss
}

// fuzzAttempt is a fresh Run (indexed, with byte caps) and its attempt build/1.
func fuzzAttempt(t testing.TB, iss *steptoken.Issuer) attempt {
	run := steptoken.Run{Namespace: "acme", Name: "fuzz", UID: servertest.FreshUID()}
	logCap, artifactCap := int64(fuzzLogCap), int64(fuzzArtifactCap)
	if err := testStore.SetRunLimits(context.Background(), run.UID, store.RunLimits{LogBytes: &logCap, ArtifactBytes: &artifactCap}); err != nil {
		t.Fatal(err)
	}
	return newAttempt(t, iss, run, "build", 1)
}

// validLogBatch is the log API's contract: one JSON value of at most 8 MiB, at most
// fuzzBatch lines, each of a known stream with seq >= 1, its bytes in line or raw (not
// both), at most MaxLogLineBytes of them, no (stream, seq) twice, and all of them within
// the Run's log cap.
func validLogBatch(body []byte) (stepjob.LogBatch, bool) {
	var batch stepjob.LogBatch
	if len(body) > maxLogBodyBytes {
		return batch, false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&batch); err != nil {
		return batch, false
	}
	if _, err := dec.Token(); err != io.EOF {
		return batch, false
	}
	if len(batch.Lines) > fuzzBatch {
		return batch, false
	}
	seen := map[string]bool{}
	total := 0
	for _, l := range batch.Lines {
		n := len(l.Line)
		if l.Raw != nil {
			n = len(l.Raw)
		}
		key := l.Stream + "/" + strconv.FormatInt(l.Seq, 10)
		switch {
		case l.Stream != "stdout" && l.Stream != "stderr" && l.Stream != "system", l.Seq < 1,
			l.Raw != nil && l.Line != "", n > 64<<10, seen[key]:
			return batch, false
		}
		seen[key] = true
		total += n
	}
	return batch, total <= fuzzLogCap
}

func FuzzStepAPILogs(f *testing.F) {
	for _, seed := range []string{
		`{"lines":[{"stream":"stdout","seq":1,"time":"2026-11-25T10:00:00Z","line":"hello"},{"stream":"stderr","seq":1,"line":"warn"}]}`,
		`{"lines":[{"stream":"stdout","seq":1,"line":"a\u0000b"},{"stream":"stdout","seq":2,"raw":"Y2Fm6Q=="},{"stream":"stdout","seq":3,"line":"after"}]}`,
		"{\"lines\":[{\"stream\":\"stdout\",\"seq\":1,\"line\":\"caf\xe9\"}]}",
		`{"lines":[{"stream":"system","seq":7,"raw":""}]}`,
		`{"lines":[{"stream":"stdout","seq":1,"line":"x"},{"stream":"stdout","seq":1,"line":"y"}]}`,
		`{"lines":[{"stream":"stdout","seq":1,"line":"x","raw":"eA=="}]}`,
		`{"lines":[{"stream":"stdin","seq":1,"line":"x"}]}`,
		`{"lines":[{"stream":"stdout","seq":0,"line":"x"}]}`,
		`{"lines":[]}{"lines":[]}`,
		`{"lines":null}`,
		`{"lines":[{"stream":"stdout","seq":1,"line":"` + strings.Repeat("z", fuzzLogCap+1) + `"}]}`,
		`[1,2]`,
		``,
	} {
		f.Add([]byte(seed))
	}
	a, iss := fuzzServer(f)
	h := a.Handler()
	f.Fuzz(func(t *testing.T, body []byte) {
		at := fuzzAttempt(t, iss)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, at.request(http.MethodPost, "", stepjob.PathLogs, "application/json", bytes.NewReader(body)))
		batch, valid := validLogBatch(body)
		var stored []stepjob.LogLine
		for _, stream := range store.LogStreams {
			lines, err := testStore.ReadLogs(context.Background(), store.LogTarget{RunUID: at.run.UID, Step: "build", Attempt: 1}, stream, 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			stored = append(stored, lines...)
		}
		switch {
		case rec.Code >= 500:
			t.Fatalf("%d %s for %q", rec.Code, rec.Body, body)
		case valid && rec.Code != http.StatusOK:
			t.Fatalf("valid batch %q refused: %d %s", body, rec.Code, rec.Body)
		case !valid && rec.Code < 400:
			t.Fatalf("invalid batch %q accepted: %d %s", body, rec.Code, rec.Body)
		case !valid && len(stored) > 0:
			t.Fatalf("refused batch %q stored %d lines", body, len(stored))
		case !valid:
			var e struct{ Error, Reason string }
			if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error == "" || e.Reason == "" {
				t.Fatalf("refusal %q lacks error and reason", rec.Body)
			}
			return
		}
		if len(stored) != len(batch.Lines) {
			t.Fatalf("batch of %d lines stored %d", len(batch.Lines), len(stored))
		}
		want := map[string][]byte{}
		for _, l := range batch.Lines {
			b := []byte(l.Line)
			if l.Raw != nil {
				b = l.Raw
			}
			want[l.Stream+"/"+strconv.FormatInt(l.Seq, 10)] = b
		}
		var total int64
		for _, l := range stored {
			exact := []byte(l.Line)
			if l.Raw != nil {
				exact = l.Raw
			}
			if w, ok := want[l.Stream+"/"+strconv.FormatInt(l.Seq, 10)]; !ok || !bytes.Equal(w, exact) {
				t.Fatalf("stored %s %d as %q, sent %q", l.Stream, l.Seq, exact, w)
			}
			if !utf8.ValidString(l.Line) || strings.IndexByte(l.Line, 0) >= 0 || (l.Raw != nil && store.IsLogText(string(l.Raw))) {
				t.Fatalf("stored %s %d with text %q raw %q", l.Stream, l.Seq, l.Line, l.Raw)
			}
			total += int64(len(exact))
		}
		if n, err := testStore.LogBytes(context.Background(), at.run.UID); err != nil || n != total || n > fuzzLogCap {
			t.Fatalf("log bytes %d (%v), want %d within %d", n, err, total, fuzzLogCap)
		}
	})
}

var fuzzArtifactName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validArtifact is the artifact API's contract: a name of 1 to 253 letters, digits, '.',
// '_' and '-' starting with a letter or digit and without "..", a Content-Type (or none)
// of at most 255 printable ASCII bytes that parses as a media type, content within the
// Run's artifact cap, and the announced digest, when there is one, matching it.
func validArtifact(name, contentType string, body []byte, digest string) bool {
	if len(name) > 253 || !fuzzArtifactName.MatchString(name) || strings.Contains(name, "..") {
		return false
	}
	if contentType != "" {
		if len(contentType) > 255 {
			return false
		}
		for i := 0; i < len(contentType); i++ {
			if contentType[i] < 0x20 || contentType[i] > 0x7e {
				return false
			}
		}
		if _, _, err := mime.ParseMediaType(contentType); err != nil {
			return false
		}
	}
	sum := sha256.Sum256(body)
	return len(body) <= fuzzArtifactCap && (digest == "" || digest == "sha256:"+hex.EncodeToString(sum[:]))
}

func FuzzStepAPIArtifacts(f *testing.F) {
	f.Add("result", "application/json", []byte(`{"ok":true}`), false)
	f.Add("report.txt", "text/plain; charset=utf-8", []byte("hello\n"), true)
	f.Add("..", "text/plain", []byte("x"), false)
	f.Add("a/b", "text/plain", []byte("x"), false)
	f.Add("big.bin", "", bytes.Repeat([]byte{0}, fuzzArtifactCap+1), false)
	f.Add("q", "text/plain; x=\"\x00\"", []byte("x"), false)
	f.Add("q", "text/plain; x=\"caf\xe9\"", []byte("x"), false)
	f.Add("q", "text/", []byte("x"), false)
	f.Add("q", "text/plain; x="+strings.Repeat("y", 250), []byte("x"), false)
	a, iss := fuzzServer(f)
	h := a.Handler()
	f.Fuzz(func(t *testing.T, name, contentType string, body []byte, announce bool) {
		at := fuzzAttempt(t, iss)
		digest := ""
		if announce {
			sum := sha256.Sum256(body)
			digest = "sha256:" + hex.EncodeToString(sum[:])
			if len(body)%3 == 0 { // now and then a wrong one
				digest = digest[:len(digest)-1] + "0"
				if digest == "sha256:"+hex.EncodeToString(sum[:]) {
					digest = digest[:len(digest)-1] + "1"
				}
			}
		}
		req := at.request(http.MethodPut, "", stepjob.PathArtifacts+url.PathEscape(name), "", bytes.NewReader(body))
		if contentType != "" {
			req.Header["Content-Type"] = []string{contentType}
		}
		if digest != "" {
			req.Header.Set(stepjob.DigestHeader, digest)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		valid := validArtifact(name, contentType, body, digest)
		arts, err := testStore.ListArtifacts(context.Background(), at.run.UID)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case rec.Code >= 500:
			t.Fatalf("%d %s for %q %q (%d bytes)", rec.Code, rec.Body, name, contentType, len(body))
		case valid && rec.Code != http.StatusCreated:
			t.Fatalf("valid upload %q %q (%d bytes) refused: %d %s", name, contentType, len(body), rec.Code, rec.Body)
		case !valid && rec.Code < 300: // (the router may redirect a name like ".", storing nothing)
			t.Fatalf("invalid upload %q %q (%d bytes) accepted: %d %s", name, contentType, len(body), rec.Code, rec.Body)
		case rec.Code != http.StatusCreated && len(arts) > 0:
			t.Fatalf("refused upload stored %+v", arts)
		case rec.Code != http.StatusCreated:
			return
		}
		if len(arts) != 1 || arts[0].Name != name || arts[0].Size != int64(len(body)) || arts[0].Size > fuzzArtifactCap {
			t.Fatalf("stored %+v for %q (%d bytes)", arts, name, len(body))
		}
		r, _, err := testStore.OpenBlob(context.Background(), arts[0].Digest)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		if !bytes.Equal(got, body) {
			t.Fatalf("stored %q, sent %q", got, body)
		}
	})
}
