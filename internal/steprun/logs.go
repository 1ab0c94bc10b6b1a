package steprun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aias-dev/aias/internal/stepjob"
)

const (
	maxLineBytes  = 64 << 10 // longer lines are cut; the full stdout still reaches the result artifact
	flushInterval = 250 * time.Millisecond
	maxBatchLines = 500
	// maxBatchBody bounds a batch's JSON, well under the API's body cap (8 MiB): a batch
	// takes the queue's leading lines while their encoding fits, so long lines, or control
	// characters (six bytes each in JSON), make smaller batches, and no batch is encoded
	// bigger than this.
	maxBatchBody = 2 << 20
	// maxQueued and maxQueuedBytes bound the lines held in memory, by count and by bytes
	// (64 KiB lines would otherwise hold 5000 × 64 KiB): a command that prints faster than
	// the API stores is slowed down through its pipe instead of growing step-run without
	// limit, which shares the step container's memory limit with the command.
	maxQueued      = 5000
	maxQueuedBytes = 4 << 20
)

// shipper numbers the lines of each stream and posts them in batches, in order. Batches
// are retried as they are (same sequence numbers), so the API stores each line once.
type shipper struct {
	c       *client
	mu      sync.Mutex
	drained *sync.Cond // signalled when the queue shrinks
	dropped int
	seq     map[string]int64
	queue   []stepjob.LogLine
	// queuedBytes is the queue's line bytes.
	queuedBytes int
	kick        chan struct{}
	done        chan struct{}
	err         error
	// refused is the API's answer when it refused lines for good (413: the run's
	// plan caps its log bytes): the step then fails, saying so.
	refused string
	// refusedLines counts lines the API refused one by one as malformed.
	refusedLines int
	// batchLines is the most lines one post carries: maxBatchLines, less once the API
	// said a batch was too large.
	batchLines int
}

func newShipper(c *client) *shipper {
	s := &shipper{c: c, seq: map[string]int64{}, kick: make(chan struct{}, 1), done: make(chan struct{}), batchLines: maxBatchLines}
	s.drained = sync.NewCond(&s.mu)
	return s
}

func (s *shipper) add(stream, line string) {
	s.mu.Lock()
	for s.full() && s.err == nil {
		s.kickNow()
		s.drained.Wait()
	}
	for s.full() && len(s.queue) > 0 { // the API gave up: keep the newest lines, count the rest
		s.pop(1)
		s.dropped++
	}
	s.seq[stream]++
	s.push(stepjob.LogLine{Stream: stream, Seq: s.seq[stream], Time: time.Now().UTC(), Line: line})
	full := len(s.queue) >= maxBatchLines || s.queuedBytes >= maxBatchBody
	s.mu.Unlock()
	if full {
		s.kickNow()
	}
}

// full reports whether the queue holds its most lines or bytes; s.mu is held.
func (s *shipper) full() bool {
	return len(s.queue) >= maxQueued || s.queuedBytes >= maxQueuedBytes
}

// push queues l; s.mu is held.
func (s *shipper) push(l stepjob.LogLine) {
	s.queue = append(s.queue, l)
	s.queuedBytes += len(l.Line)
}

// pop drops the queue's first n lines; s.mu is held. Their slots are cleared so that the
// backing array, which append reuses, does not keep their strings alive.
func (s *shipper) pop(n int) {
	for _, l := range s.queue[:n] {
		s.queuedBytes -= len(l.Line)
	}
	clear(s.queue[:n])
	s.queue = s.queue[n:]
}

func (s *shipper) kickNow() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// copyLines reads r line by line, echoes it to echo (so `kubectl logs` shows it too) and
// queues each line for the log API.
func (s *shipper) copyLines(stream string, r io.Reader, echo io.Writer) {
	br := bufio.NewReaderSize(r, 64<<10)
	var line []byte
	for {
		chunk, isPrefix, err := br.ReadLine()
		if len(chunk) > 0 || (err == nil && !isPrefix) {
			if len(line) < maxLineBytes {
				line = append(line, chunk[:min(len(chunk), maxLineBytes-len(line))]...)
			}
			if !isPrefix {
				_, _ = echo.Write(append(append([]byte(nil), line...), '\n'))
				s.add(stream, string(line))
				line = line[:0]
			}
		}
		if err != nil {
			if len(line) > 0 {
				_, _ = echo.Write(append(line, '\n'))
				s.add(stream, string(line))
			}
			return
		}
	}
}

// run posts queued lines until ctx ends, then flushes the tail.
func (s *shipper) run(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flush(context.Background())
			return
		case <-t.C:
		case <-s.kick:
		}
		s.flush(ctx)
	}
}

func (s *shipper) flush(ctx context.Context) {
	for {
		s.mu.Lock()
		n := min(len(s.queue), s.batchLines)
		batch := append([]stepjob.LogLine(nil), s.queue[:n]...)
		dropped := s.dropped
		s.mu.Unlock()
		if n == 0 {
			return
		}
		done, err := s.deliver(ctx, batch)
		s.mu.Lock()
		// Lines dropped from the queue's head meanwhile were this batch's first ones.
		s.pop(min(max(done-(s.dropped-dropped), 0), len(s.queue)))
		s.drained.Broadcast()
		if err != nil {
			var pe *permanentError
			if errors.As(err, &pe) && pe.status == http.StatusRequestEntityTooLarge && s.refused == "" {
				s.refused = pe.body
			}
			s.err = err
			s.mu.Unlock()
			return // keep the rest queued; the final flush tries again
		}
		s.err = nil
		s.mu.Unlock()
	}
}

// deliver posts the leading lines of batch whose encoding fits in maxBatchBody (at least
// one) and reports how many of batch's leading lines are done with: stored, or refused
// for good and noted. A batch the API refuses for its content or size (400, or 413 other
// than the run's log quota) is halved until the lines it refuses stand alone, so one
// line the API will never take holds back none after it. Other errors (the API
// unreachable after retries, the quota spent, the token refused) stop it.
func (s *shipper) deliver(ctx context.Context, batch []stepjob.LogLine) (int, error) {
	body, n := encodeBatch(batch, maxBatchBody)
	batch = batch[:n]
	resp, err := s.c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, s.c.cfg.stepURL()+stepjob.PathLogs, bytes.NewReader(body))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
	if err == nil {
		resp.Body.Close()
		return len(batch), nil
	}
	var pe *permanentError
	if !errors.As(err, &pe) {
		return 0, err
	}
	reason := pe.reason()
	if pe.status != http.StatusBadRequest && (pe.status != http.StatusRequestEntityTooLarge || reason == "RunLogQuota") {
		return 0, err
	}
	if len(batch) == 1 {
		s.refuse(batch[0], pe)
		return 1, nil
	}
	if reason == "BatchTooLarge" || reason == "BodyTooLarge" {
		s.mu.Lock()
		s.batchLines = max(min(s.batchLines, len(batch)/2), 1)
		s.mu.Unlock()
	}
	return s.deliverHalves(ctx, batch)
}

func (s *shipper) deliverHalves(ctx context.Context, batch []stepjob.LogLine) (int, error) {
	h := len(batch) / 2
	n, err := s.deliver(ctx, batch[:h])
	if err != nil || n < h {
		return n, err
	}
	m, err := s.deliver(ctx, batch[h:])
	return n + m, err
}

// refuse counts a line the API refused for good and says so in the system stream (a
// refused system line is only counted: its note could be refused in turn).
func (s *shipper) refuse(l stepjob.LogLine, pe *permanentError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refusedLines++
	if l.Stream == stepjob.StreamSystem {
		return
	}
	s.seq[stepjob.StreamSystem]++
	s.push(stepjob.LogLine{Stream: stepjob.StreamSystem, Seq: s.seq[stepjob.StreamSystem], Time: time.Now().UTC(),
		Line: fmt.Sprintf("%s line %d was refused by the log API (%d %s)", l.Stream, l.Seq, pe.status, pe.message())})
}

// encodeBatch is the JSON body (a stepjob.LogBatch) of batch's leading lines whose
// encoding fits in limit bytes, always at least one line, and how many lines it holds.
// A line whose bytes are not text (invalid UTF-8, or NUL) goes as raw bytes: a JSON
// string would lose them.
func encodeBatch(batch []stepjob.LogLine, limit int) ([]byte, int) {
	const head, tail = `{"lines":[`, `]}`
	body := make([]byte, 0, min(limit, len(head)+len(tail)+estimate(batch)))
	body = append(body, head...)
	n := 0
	for _, l := range batch {
		if !utf8.ValidString(l.Line) || strings.IndexByte(l.Line, 0) >= 0 {
			l.Raw, l.Line = []byte(l.Line), ""
		}
		b, err := json.Marshal(l)
		if err != nil { // only a time outside years 0-9999, which time.Now never gives
			l.Time = time.Time{}
			b, _ = json.Marshal(l)
		}
		if n > 0 && len(body)+1+len(b)+len(tail) > limit {
			break
		}
		if n > 0 {
			body = append(body, ',')
		}
		body = append(body, b...)
		n++
	}
	return append(body, tail...), n
}

// estimate is about the JSON size of lines of plain text: their bytes and fields.
func estimate(lines []stepjob.LogLine) int {
	n := 0
	for _, l := range lines {
		n += len(l.Line) + 96
	}
	return n
}

// pending reports lines that never reached the API.
func (s *shipper) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) + s.dropped + s.refusedLines
}

// refusal is the API's reason for refusing log lines for good, "" if it never did.
func (s *shipper) refusal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}
