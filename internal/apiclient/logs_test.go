package apiclient

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/userapi"
)

func init() {
	followRetry = 10 * time.Millisecond
	followMaxRetry = 50 * time.Millisecond
}

// sseLine writes one `event: line` the way the contract describes it.
func sseLine(w http.ResponseWriter, seq int) {
	fmt.Fprintf(w, "event: line\nid: cur-%d\ndata: {\"step\":\"parse\",\"attempt\":1,\"stream\":\"stdout\",\"seq\":%d,\"line\":\"line %d\"}\n\n", seq, seq, seq)
	w.(http.Flusher).Flush()
}

// A stream that drops after two lines is resumed from the last id: every line arrives
// exactly once and FollowLogs returns at `event: end`.
func TestFollowLogsResumesAfterDrop(t *testing.T) {
	var mu sync.Mutex
	var lastIDs, cursors []string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept") != "text/event-stream" || r.URL.Query().Get("follow") != "true" || r.URL.Query().Get("step") != "parse" {
			t.Errorf("request %s %v", r.URL, r.Header)
		}
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get("Last-Event-ID"))
		cursors = append(cursors, r.URL.Query().Get("cursor"))
		n := len(lastIDs)
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		switch n {
		case 1:
			sseLine(w, 1)
			sseLine(w, 2)
			// and the connection drops mid-event
			fmt.Fprint(w, "event: line\nid: cur-3\ndata: {\"line\":")
		case 2:
			w.WriteHeader(http.StatusServiceUnavailable) // a blip while reconnecting
			fmt.Fprint(w, `{"error":"store unavailable","reason":"Unavailable"}`)
		default:
			fmt.Fprint(w, ": keep-alive\n\n")
			sseLine(w, 3)
			fmt.Fprint(w, "event: end\ndata: {}\n\n")
		}
	})
	var got []int64
	err := c.FollowLogs(context.Background(), "acme", "r", LogQuery{Step: "parse"}, func(e userapi.LogEntry) error {
		got = append(got, e.Seq)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != "[1 2 3]" {
		t.Errorf("seqs = %v", got)
	}
	if fmt.Sprint(lastIDs) != "[ cur-2 cur-2]" || fmt.Sprint(cursors) != "[ cur-2 cur-2]" {
		t.Errorf("Last-Event-ID per connect = %q, cursor = %q", lastIDs, cursors)
	}
}

func TestFollowLogsStopsOnRefusal(t *testing.T) {
	calls := 0
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprint(w, `{"error":"no","reason":"Forbidden"}`)
	})
	err := c.FollowLogs(context.Background(), "acme", "r", LogQuery{}, func(userapi.LogEntry) error { return nil })
	if !IsStatus(err, http.StatusForbidden) || calls != 1 {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}

func TestFollowLogsGivesUpOnADeadServer(t *testing.T) {
	calls := 0
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	err := c.FollowLogs(context.Background(), "acme", "r", LogQuery{}, func(userapi.LogEntry) error { return nil })
	if !IsStatus(err, http.StatusServiceUnavailable) || calls != followMaxFailures {
		t.Fatalf("err = %v after %d calls", err, calls)
	}
}

func TestFollowLogsCallbackErrorAndCancel(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		sseLine(w, 1)
		<-r.Context().Done() // a run that never ends
	})
	stop := errors.New("enough")
	err := c.FollowLogs(context.Background(), "acme", "r", LogQuery{}, func(userapi.LogEntry) error { return stop })
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the callback's", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	n := 0
	err = c.FollowLogs(ctx, "acme", "r", LogQuery{}, func(userapi.LogEntry) error { n++; return nil })
	if !errors.Is(err, context.DeadlineExceeded) || n != 1 {
		t.Fatalf("err = %v, %d lines", err, n)
	}
}

// A silent, half-open connection is abandoned after followIdle and resumed.
func TestFollowLogsIdleWatchdog(t *testing.T) {
	old := followIdle
	followIdle = 100 * time.Millisecond
	defer func() { followIdle = old }()
	calls := 0
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "text/event-stream")
		if calls == 1 {
			sseLine(w, 1)
			<-r.Context().Done() // silent until the client gives up
			return
		}
		if r.Header.Get("Last-Event-ID") != "cur-1" {
			t.Errorf("Last-Event-ID = %q", r.Header.Get("Last-Event-ID"))
		}
		fmt.Fprint(w, "event: end\ndata: {}\n\n")
	})
	n := 0
	if err := c.FollowLogs(context.Background(), "acme", "r", LogQuery{}, func(userapi.LogEntry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 1 || calls != 2 {
		t.Fatalf("%d lines, %d connects", n, calls)
	}
}

// An `end` event saying the caller's access was revoked is a final 403, not a Run that
// ended: the lines before it were delivered, and no reconnect is tried.
func TestFollowLogsForbiddenEnd(t *testing.T) {
	calls := 0
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.Header().Set("Content-Type", "text/event-stream")
		sseLine(w, 1)
		fmt.Fprint(w, "event: end\ndata: {\"phase\":\"Running\",\"forbidden\":true,\"message\":\"ann cannot get runs/logs\"}\n\n")
	})
	n := 0
	err := c.FollowLogs(context.Background(), "acme", "r", LogQuery{}, func(userapi.LogEntry) error { n++; return nil })
	var ae *APIError
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusForbidden || !strings.Contains(ae.Message, "cannot get runs/logs") {
		t.Fatalf("err = %v, want a 403 APIError with the server's message", err)
	}
	if n != 1 || calls != 1 {
		t.Errorf("%d lines, %d connects; want 1 and 1", n, calls)
	}
}
