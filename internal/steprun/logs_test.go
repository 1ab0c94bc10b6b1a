package steprun

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
)

// A batch body holds the leading lines whose encoding fits the limit, at least one, and
// decodes to exactly those lines, bytes that are not text as raw bytes.
func TestEncodeBatchFitsTheLimit(t *testing.T) {
	long := strings.Repeat("x", maxLineBytes)
	var batch []stepjob.LogLine
	for i := range 100 {
		line := long
		switch i {
		case 1:
			line = "not text \xff"
		case 2:
			line = strings.Repeat("\x01", maxLineBytes) // six JSON bytes each
		}
		batch = append(batch, stepjob.LogLine{Stream: stepjob.StreamStdout, Seq: int64(i + 1), Time: time.Unix(1, 0).UTC(), Line: line})
	}
	body, n := encodeBatch(batch, maxBatchBody)
	if len(body) > maxBatchBody || n < 2 || n >= len(batch) {
		t.Fatalf("%d lines in %d bytes; want as many as fit in %d", n, len(body), maxBatchBody)
	}
	if next, _ := json.Marshal(batch[n]); len(body)+1+len(next) <= maxBatchBody {
		t.Errorf("line %d would have fit too (%d + %d bytes)", n, len(body), len(next))
	}
	var got stepjob.LogBatch
	if err := json.Unmarshal(body, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Lines) != n {
		t.Fatalf("decoded %d lines, want %d", len(got.Lines), n)
	}
	for i, l := range got.Lines {
		text := l.Line
		if l.Raw != nil {
			text = string(l.Raw)
		}
		if text != batch[i].Line || l.Seq != batch[i].Seq || !l.Time.Equal(batch[i].Time) {
			t.Errorf("line %d came back as %.40q seq %d", i, text, l.Seq)
		}
	}
	if got.Lines[1].Raw == nil || got.Lines[1].Line != "" {
		t.Errorf("a line that is not UTF-8 went as a string: %+v", got.Lines[1])
	}
	if body, n := encodeBatch(batch[2:], 10); n != 1 || len(body) < maxLineBytes {
		t.Errorf("a limit below one line: %d lines, %d bytes; want the line alone", n, len(body))
	}
}

// A command printing long lines faster than the API stores them is held back by the
// queue's byte bound, not only its line count: step-run's memory stays bounded whatever
// the line length, every batch fits maxBatchBody, and every line arrives once, in order.
func TestLongLinesStayBounded(t *testing.T) {
	var s *shipper
	var mu sync.Mutex
	var seqs []int64
	var maxQueued, maxBody int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var b stepjob.LogBatch
		if err := json.Unmarshal(body, &b); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		q := s.queuedBytes
		s.mu.Unlock()
		mu.Lock()
		maxQueued, maxBody = max(maxQueued, q), max(maxBody, len(body))
		for _, l := range b.Lines {
			// As the API: a line sent again (a batch whose answer the final flush did
			// not wait for) is stored once; a gap is a line lost.
			if l.Seq > int64(len(seqs)) {
				seqs = append(seqs, l.Seq)
			}
		}
		mu.Unlock()
		time.Sleep(5 * time.Millisecond) // slower than the command
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	s = newShipper(&client{cfg: Config{APIURL: srv.URL, Token: "t", Namespace: "n", Run: "r", Step: "s", Attempt: 1}, http: srv.Client(), retryFor: time.Minute})
	ctx, stop := context.WithCancel(context.Background())
	go s.run(ctx)

	const lines = 400 // 25 MiB of 64 KiB lines
	pr, pw := io.Pipe()
	go func() {
		line := strings.Repeat("y", maxLineBytes-10)
		for i := range lines {
			fmt.Fprintf(pw, "%09d %s\n", i, line)
		}
		pw.Close()
	}()
	s.copyLines(stepjob.StreamStdout, pr, io.Discard)
	stop()
	<-s.done

	if n := s.pending(); n != 0 {
		t.Errorf("%d lines not delivered", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seqs) != lines {
		t.Fatalf("the API got %d lines, want %d", len(seqs), lines)
	}
	for i, seq := range seqs {
		if seq != int64(i+1) {
			t.Fatalf("line %d arrived as seq %d", i+1, seq)
		}
	}
	t.Logf("largest batch %d bytes, most queued %d bytes", maxBody, maxQueued)
	if maxBody > maxBatchBody {
		t.Errorf("a batch of %d bytes, over %d", maxBody, maxBatchBody)
	}
	if maxQueued > maxQueuedBytes+maxLineBytes {
		t.Errorf("%d bytes queued, over %d and a line", maxQueued, maxQueuedBytes)
	}
}
