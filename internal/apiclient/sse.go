package apiclient

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"strings"
	"time"
)

// event is one server-sent event, as the WHATWG event-stream rules assemble it.
type event struct {
	Type string // "message" when the server named none
	Data string
	// ID is the stream's last event ID when the event was dispatched (it persists across
	// events, as in a browser's EventSource); the user API uses it as the log cursor.
	ID string
	// Retry is the reconnection delay the server asked for, 0 when it never did.
	Retry time.Duration
}

// maxEventLine bounds one line of the stream; step log lines are far shorter.
const maxEventLine = 4 << 20

// readEvents parses an event stream and calls fn for every dispatched event, stopping at
// fn's first error or the end of r (nil on a clean EOF: whether that was expected is the
// caller's business). touch, when not nil, is called for every line read, comments
// included, so a caller can tell a quiet stream from a dead one.
func readEvents(r io.Reader, touch func(), fn func(event) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxEventLine)
	sc.Split(scanLines)
	var (
		typ, lastID string
		data        strings.Builder
		hasData     bool
		retry       time.Duration
	)
	for sc.Scan() {
		if touch != nil {
			touch()
		}
		line := sc.Text()
		if line == "" { // dispatch
			if hasData {
				ev := event{Type: typ, Data: strings.TrimSuffix(data.String(), "\n"), ID: lastID, Retry: retry}
				if ev.Type == "" {
					ev.Type = "message"
				}
				if err := fn(ev); err != nil {
					return err
				}
			}
			typ, hasData = "", false
			data.Reset()
			continue
		}
		if strings.HasPrefix(line, ":") { // comment, e.g. a keep-alive
			continue
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			typ = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
			hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				lastID = value
			}
		case "retry":
			if ms, err := strconv.ParseUint(value, 10, 32); err == nil {
				retry = time.Duration(ms) * time.Millisecond
			}
		}
	}
	// An event without its terminating blank line is discarded, as the spec says: the
	// connection dropped in the middle of it, and the reconnect will send it again.
	return sc.Err()
}

// scanLines splits on CRLF, LF or a lone CR, the three line ends event streams allow.
func scanLines(b []byte, atEOF bool) (int, []byte, error) {
	i := bytes.IndexAny(b, "\r\n")
	switch {
	case i < 0:
		if atEOF && len(b) > 0 {
			return len(b), b, nil
		}
		return 0, nil, nil
	case b[i] == '\n':
		return i + 1, b[:i], nil
	case i+1 < len(b): // '\r' followed by something
		if b[i+1] == '\n' {
			return i + 2, b[:i], nil
		}
		return i + 1, b[:i], nil
	case atEOF: // '\r' as the last byte
		return i + 1, b[:i], nil
	default: // '\r' at the end of the buffer: wait to see whether '\n' follows
		return 0, nil, nil
	}
}
