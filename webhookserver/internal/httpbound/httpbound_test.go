package httpbound

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serve runs h on a real loopback listener within lim and returns its address.
func serve(t *testing.T, lim Limits, h http.Handler) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := Server("test", h, lim)
	go func() { _ = srv.Serve(Listener("test", ln, lim.MaxConnections)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// closedWithin reads (and discards) from c until the server closes it, and fails unless
// that happens within d.
func closedWithin(t *testing.T, c net.Conn, d time.Duration) {
	t.Helper()
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(d))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", d)
	}
	t.Logf("closed by the server after %v", time.Since(start).Round(time.Millisecond))
}

func readAll(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(r.Body); err != nil {
		http.Error(w, "body", http.StatusBadRequest)
		return
	}
	_, _ = io.WriteString(w, "ok")
}

// A client that sends 10 of the 1000 body bytes it announced and stops loses its
// connection once the read timeout has passed.
func TestStalledBodyIsClosed(t *testing.T) {
	addr := serve(t, Limits{ReadHeaderTimeout: time.Second, ReadTimeout: 500 * time.Millisecond, IdleTimeout: time.Minute}, http.HandlerFunc(readAll))
	c := dial(t, addr)
	fmt.Fprintf(c, "POST /hooks/a/b HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"a\":\"1234")
	closedWithin(t, c, 3*time.Second)
}

// A keep-alive connection that sends no next request is closed after the idle timeout.
func TestIdleKeepAliveIsClosed(t *testing.T) {
	addr := serve(t, Limits{ReadHeaderTimeout: time.Second, ReadTimeout: 5 * time.Second, IdleTimeout: 500 * time.Millisecond}, http.HandlerFunc(readAll))
	c := dial(t, addr)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("status %d, close %v: want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	start := time.Now()
	_ = c.SetReadDeadline(start.Add(3 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("unexpected bytes on an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle keep-alive connection still open after 3s")
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("closed after %v, before the idle timeout", took)
	}
}

// Headers above MaxHeaderBytes are refused (431) instead of being buffered.
func TestMaxHeaderBytes(t *testing.T) {
	addr := serve(t, Limits{ReadHeaderTimeout: time.Second, MaxHeaderBytes: 1 << 10}, http.HandlerFunc(readAll))
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 16<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("status %d, want 431", resp.StatusCode)
	}
}

// fastGet is a request that must be answered within d: 200, or 503 with Retry-After and
// the API's JSON error body.
func fastGet(t *testing.T, addr string, d time.Duration) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: d, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/fast")
	if err != nil {
		t.Fatalf("the fast client was not answered within %v: %v", d, err)
	}
	defer resp.Body.Close()
	var body struct{ Error, Reason string }
	raw, _ := io.ReadAll(resp.Body)
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusServiceUnavailable:
		if resp.Header.Get("Retry-After") == "" || json.Unmarshal(raw, &body) != nil || body.Reason == "" || body.Error == "" {
			t.Errorf("503 without Retry-After or the JSON error body: %q %q", resp.Header, raw)
		}
	default:
		t.Errorf("fast client: status %d %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, body.Reason
}

// N slow clients, N at or above the caps, cannot make a fast one hang: it is served, or
// promptly told 503 to retry, and served once the slow ones have been cut off.
func TestSlowClientsCannotStallAFastOne(t *testing.T) {
	const cap = 4
	lim := Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Second, IdleTimeout: time.Minute, MaxInFlight: cap, MaxConnections: 3 * cap}
	addr := serve(t, lim, http.HandlerFunc(readAll))

	t.Run("slow bodies", func(t *testing.T) {
		// Each holds a request slot in its handler, reading a body that does not come.
		for range 2 * cap {
			c := dial(t, addr)
			fmt.Fprintf(c, "POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n0123456789")
		}
		time.Sleep(100 * time.Millisecond) // let them reach their handlers
		if code, reason := fastGet(t, addr, 500*time.Millisecond); code != http.StatusServiceUnavailable || reason != "Overloaded" {
			t.Errorf("with every slot held: %d %s, want a prompt 503 Overloaded", code, reason)
		}
		time.Sleep(lim.ReadTimeout)
		if code, _ := fastGet(t, addr, time.Second); code != http.StatusOK {
			t.Errorf("after the slow clients were cut off: %d, want 200", code)
		}
	})

	t.Run("slow headers", func(t *testing.T) {
		// Half-sent headers hold a connection but no request slot.
		for range 2 * cap {
			c := dial(t, addr)
			fmt.Fprintf(c, "GET /slow HTTP/1.1\r\nHost: x\r\nX-Slow: ")
		}
		time.Sleep(100 * time.Millisecond)
		if code, _ := fastGet(t, addr, 500*time.Millisecond); code != http.StatusOK {
			t.Errorf("beside slow headers: %d, want 200", code)
		}
		time.Sleep(lim.ReadHeaderTimeout)
	})

	t.Run("idle connections", func(t *testing.T) {
		// Connections beyond MaxConnections that send nothing: the next one is answered at once.
		for range 4 * cap {
			dial(t, addr)
		}
		time.Sleep(100 * time.Millisecond)
		if code, reason := fastGet(t, addr, 500*time.Millisecond); code != http.StatusServiceUnavailable || reason != "TooManyConnections" {
			t.Errorf("with every connection taken: %d %s, want a prompt 503 TooManyConnections", code, reason)
		}
		time.Sleep(lim.ReadHeaderTimeout + 200*time.Millisecond) // they are closed as slow headers
		if code, _ := fastGet(t, addr, time.Second); code != http.StatusOK {
			t.Errorf("after the idle connections were closed: %d, want 200", code)
		}
	})
}

// A streaming route outlives the listener's read and write timeouts as long as it makes
// progress, and its context stays alive; without Stream the same handler is cut off.
func TestStreamOutlivesTheRequestTimeouts(t *testing.T) {
	lim := Limits{ReadHeaderTimeout: time.Second, ReadTimeout: 300 * time.Millisecond, WriteTimeout: 300 * time.Millisecond,
		IdleTimeout: time.Minute, StreamTimeout: 500 * time.Millisecond}
	ticks := func(w http.ResponseWriter, r *http.Request) {
		for i := range 12 { // 1.2 s, four times the request timeouts
			if _, err := fmt.Fprintf(w, "tick %d\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
		_, _ = io.WriteString(w, "done\n")
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) { w, r = Stream(w, r); ticks(w, r) })
	mux.HandleFunc("/plain", ticks)
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		w, r = Stream(w, r)
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(400 * time.Millisecond) // e.g. committing the upload, past ReadTimeout
		if r.Context().Err() != nil {
			http.Error(w, "canceled", http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "%d", n)
	})
	addr := serve(t, lim, mux)

	get := func(path string) string {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		return string(raw)
	}
	if body := get("/stream"); !strings.HasSuffix(body, "done\n") {
		t.Errorf("the stream was cut off: %q", body)
	}
	if body := get("/plain"); strings.HasSuffix(body, "done\n") {
		t.Errorf("a plain route outlived its timeouts: %q", body)
	}

	// An upload that trickles in for longer than ReadTimeout, each chunk within StreamTimeout.
	pr, pw := io.Pipe()
	go func() {
		for range 8 {
			_, _ = pw.Write([]byte("0123456789"))
			time.Sleep(100 * time.Millisecond)
		}
		_ = pw.Close()
	}()
	resp, err := http.Post("http://"+addr+"/upload", "application/octet-stream", pr)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(raw) != "80" {
		t.Errorf("slow upload: %d %q, want 200 80", resp.StatusCode, raw)
	}
}

// A stalled streaming upload, and a streaming download whose client stops reading, end
// within the stream timeout.
func TestStreamStallsEnd(t *testing.T) {
	lim := Limits{ReadHeaderTimeout: time.Second, ReadTimeout: time.Minute, WriteTimeout: time.Minute,
		IdleTimeout: time.Minute, StreamTimeout: 500 * time.Millisecond}
	ended := make(chan error, 2)
	mux := http.NewServeMux()
	mux.HandleFunc("/upload", func(w http.ResponseWriter, r *http.Request) {
		_, r = Stream(w, r)
		_, err := io.Copy(io.Discard, r.Body)
		ended <- err
	})
	mux.HandleFunc("/download", func(w http.ResponseWriter, r *http.Request) {
		w, _ = Stream(w, r)
		chunk := make([]byte, 64<<10)
		for {
			if _, err := w.Write(chunk); err != nil {
				ended <- err
				return
			}
		}
	})
	addr := serve(t, lim, mux)

	c := dial(t, addr)
	fmt.Fprintf(c, "PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n0123456789")
	waitEnded(t, ended, "stalled upload")

	c = dial(t, addr)
	fmt.Fprintf(c, "GET /download HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
	waitEnded(t, ended, "unread download")
}

func waitEnded(t *testing.T, ended chan error, what string) {
	t.Helper()
	select {
	case err := <-ended:
		if err == nil {
			t.Errorf("%s: ended without an error", what)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: still going after 5s", what)
	}
}

// Outside a bounded listener, Stream changes nothing.
func TestStreamOutsideABoundedListener(t *testing.T) {
	r, _ := http.NewRequestWithContext(context.Background(), "GET", "/", nil)
	var w http.ResponseWriter = struct{ http.ResponseWriter }{}
	w2, r2 := Stream(w, r)
	if r2 != r || w2 != w {
		t.Error("Stream wrapped a request of an unbounded server")
	}
}

// Connection slots are freed when connections close, however many come and go.
func TestConnectionSlotsAreReleased(t *testing.T) {
	addr := serve(t, Limits{ReadHeaderTimeout: time.Second, IdleTimeout: time.Minute, MaxConnections: 2}, http.HandlerFunc(readAll))
	for range 20 {
		c := dial(t, addr)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
		_, _ = io.Copy(io.Discard, c)
		_ = c.Close()
	}
	time.Sleep(50 * time.Millisecond)
	if code, _ := fastGet(t, addr, time.Second); code != http.StatusOK {
		t.Errorf("after 20 closed connections: %d, want 200", code)
	}
}

// A key at its cap is refused at once while another key still gets slots, and an entry
// goes once its key holds nothing (the map never outgrows the slots held).
func TestKeyedSlots(t *testing.T) {
	k := NewKeyedSlots(2)
	for i := range 2 {
		if !k.TryAcquire("a") {
			t.Fatalf("a could not take slot %d of its two", i+1)
		}
	}
	if k.TryAcquire("a") {
		t.Fatal("a took a third slot")
	}
	if !k.TryAcquire("b") {
		t.Fatal("b was refused while a was at its cap")
	}
	k.Release("a")
	if !k.TryAcquire("a") {
		t.Fatal("a's released slot did not come back")
	}
	k.Release("a")
	k.Release("a")
	k.Release("b")
	if len(k.held) != 0 {
		t.Fatalf("entries left after every slot came back: %v", k.held)
	}
}
