package steprun

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
)

const (
	maxLineBytes  = 64 << 10 // longer lines are cut; the full stdout still reaches the result artifact
	flushInterval = 250 * time.Millisecond
	maxBatchLines = 500
	// maxQueued bounds the lines held in memory: a command that prints faster than the API
	// stores is slowed down through its pipe instead of growing step-run without limit.
	maxQueued = 5000
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
	kick    chan struct{}
	done    chan struct{}
	err     error
	// refused is the API's answer when it refused lines for good (413: the run's
	// plan caps its log bytes): the step then fails, saying so.
	refused string
}

func newShipper(c *client) *shipper {
	s := &shipper{c: c, seq: map[string]int64{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	s.drained = sync.NewCond(&s.mu)
	return s
}

func (s *shipper) add(stream, line string) {
	s.mu.Lock()
	for len(s.queue) >= maxQueued && s.err == nil {
		s.kickNow()
		s.drained.Wait()
	}
	if len(s.queue) >= maxQueued { // the API gave up: keep the newest lines, count the rest
		s.queue = s.queue[1:]
		s.dropped++
	}
	s.seq[stream]++
	s.queue = append(s.queue, stepjob.LogLine{Stream: stream, Seq: s.seq[stream], Time: time.Now().UTC(), Line: line})
	full := len(s.queue) >= maxBatchLines
	s.mu.Unlock()
	if full {
		s.kickNow()
	}
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
		n := min(len(s.queue), maxBatchLines)
		batch := append([]stepjob.LogLine(nil), s.queue[:n]...)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		body, _ := json.Marshal(stepjob.LogBatch{Lines: batch})
		resp, err := s.c.do(ctx, func() (*http.Request, error) {
			req, err := http.NewRequest(http.MethodPost, s.c.cfg.stepURL()+stepjob.PathLogs, bytes.NewReader(body))
			if req != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			return req, err
		})
		if err != nil {
			s.mu.Lock()
			var pe *permanentError
			if errors.As(err, &pe) && pe.status == http.StatusRequestEntityTooLarge && s.refused == "" {
				s.refused = pe.body
			}
			s.err = err
			s.drained.Broadcast()
			s.mu.Unlock()
			return // keep the lines queued; the final flush tries again
		}
		resp.Body.Close()
		s.mu.Lock()
		s.queue = s.queue[n:]
		s.err = nil
		s.drained.Broadcast()
		s.mu.Unlock()
	}
}

// pending reports lines that never reached the API.
func (s *shipper) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.queue) + s.dropped
}

// refusal is the API's reason for refusing log lines for good, "" if it never did.
func (s *shipper) refusal() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refused
}
