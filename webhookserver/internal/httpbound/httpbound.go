// Package httpbound bounds what the clients of one webhookserver listener can hold: how
// long a request, its body, its response and an idle keep-alive connection may take, how
// large the request headers may be, and how many connections and requests the listener
// serves at once. Past a cap a client is answered 503 with Retry-After at once, never
// queued, so a crowd of slow clients cannot make a fast one hang.
//
// Streaming routes (a log follow, an artifact upload or download) call Stream: it lifts
// the whole-request deadlines for that request and bounds its progress instead.
package httpbound

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// Limits bound one listener's clients. A zero field takes its default (see Or).
type Limits struct {
	// ReadHeaderTimeout bounds reading the request line and headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds the whole request, its body included, from its first byte. It
	// also ends the request's context: a handler still running past it is canceled.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing the response, from the end of the request headers.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no next request within it.
	IdleTimeout time.Duration
	// StreamTimeout replaces ReadTimeout and WriteTimeout on streaming routes (Stream):
	// each read of the request body and each write of the response must complete within it.
	StreamTimeout time.Duration
	// MaxHeaderBytes caps the request line and headers (431 above it).
	MaxHeaderBytes int
	// MaxConnections caps the open connections; one more is answered 503 and closed.
	MaxConnections int
	// MaxInFlight caps the requests being served; one more is answered 503 with Retry-After.
	MaxInFlight int
}

// Or returns l with each zero field taken from d.
func (l Limits) Or(d Limits) Limits {
	pick := func(v *time.Duration, dv time.Duration) {
		if *v == 0 {
			*v = dv
		}
	}
	pick(&l.ReadHeaderTimeout, d.ReadHeaderTimeout)
	pick(&l.ReadTimeout, d.ReadTimeout)
	pick(&l.WriteTimeout, d.WriteTimeout)
	pick(&l.IdleTimeout, d.IdleTimeout)
	pick(&l.StreamTimeout, d.StreamTimeout)
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = d.MaxHeaderBytes
	}
	if l.MaxConnections == 0 {
		l.MaxConnections = d.MaxConnections
	}
	if l.MaxInFlight == 0 {
		l.MaxInFlight = d.MaxInFlight
	}
	return l
}

// Check reports a negative field (zero takes the default; nothing is unbounded).
func (l Limits) Check() error {
	for name, v := range map[string]int64{
		"read header timeout": int64(l.ReadHeaderTimeout), "read timeout": int64(l.ReadTimeout),
		"write timeout": int64(l.WriteTimeout), "idle timeout": int64(l.IdleTimeout), "stream timeout": int64(l.StreamTimeout),
		"max header bytes": int64(l.MaxHeaderBytes), "max connections": int64(l.MaxConnections), "max in flight": int64(l.MaxInFlight),
	} {
		if v < 0 {
			return fmt.Errorf("%s must not be negative", name)
		}
	}
	return nil
}

var refused = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "aias_webhookserver_refused_total",
	Help: "Connections and requests a webhookserver listener answered 503 at once because it was at its cap, by listener (public, user, internal, metrics) and cap (connections, in_flight).",
}, []string{"listener", "cap"})

// Collectors are the package's metrics, for the webhookserver's registry.
func Collectors() []prometheus.Collector { return []prometheus.Collector{refused} }

// Server is an http.Server for handler h within lim; name labels its metrics. Serve it
// on a listener from Listener.
func Server(name string, h http.Handler, lim Limits) *http.Server {
	return &http.Server{
		Handler:           Handler(name, h, lim),
		ReadHeaderTimeout: lim.ReadHeaderTimeout,
		ReadTimeout:       lim.ReadTimeout,
		WriteTimeout:      lim.WriteTimeout,
		IdleTimeout:       lim.IdleTimeout,
		MaxHeaderBytes:    lim.MaxHeaderBytes,
	}
}

type streamTimeoutKey struct{}

// Handler wraps h with the in-flight cap and tells Stream the listener's StreamTimeout.
func Handler(name string, h http.Handler, lim Limits) http.Handler {
	var slots chan struct{}
	if lim.MaxInFlight > 0 {
		slots = make(chan struct{}, lim.MaxInFlight)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slots != nil {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			default:
				refused.WithLabelValues(name, "in_flight").Inc()
				w.Header().Set("Retry-After", "1")
				httpjson.Error(w, http.StatusServiceUnavailable, "Overloaded",
					fmt.Sprintf("the %s listener is serving its maximum of %d requests; retry shortly", name, lim.MaxInFlight))
				return
			}
		}
		if lim.StreamTimeout > 0 {
			r = r.WithContext(context.WithValue(r.Context(), streamTimeoutKey{}, lim.StreamTimeout))
		}
		h.ServeHTTP(w, r)
	})
}

// Stream prepares a streaming route, one whose request body or response may rightly take
// longer than the listener's ReadTimeout and WriteTimeout: it lifts both for this request
// and bounds progress instead, so that each read of the returned request's body and each
// write (and flush) of the returned writer must complete within the listener's
// StreamTimeout. Without a request body no read deadline is left: the server's
// background read only watches for the client going away. Outside a bounded listener
// (an httptest server) it returns w and r as they are.
func Stream(w http.ResponseWriter, r *http.Request) (http.ResponseWriter, *http.Request) {
	return StreamUntil(w, r, time.Time{})
}

// StreamUntil is Stream with an overall deadline on reading the body (zero: none): no read
// of it goes on past until, however steadily the client sends. Outside a bounded listener
// the deadline alone applies.
func StreamUntil(w http.ResponseWriter, r *http.Request, until time.Time) (http.ResponseWriter, *http.Request) {
	d, _ := r.Context().Value(streamTimeoutKey{}).(time.Duration)
	if d <= 0 {
		if !until.IsZero() && r.Body != nil && r.Body != http.NoBody {
			_ = http.NewResponseController(w).SetReadDeadline(until)
		}
		return w, r
	}
	rc := http.NewResponseController(w)
	sw := &streamWriter{ResponseWriter: w, rc: rc, d: d}
	sw.extend()
	if r.Body == nil || r.Body == http.NoBody {
		_ = rc.SetReadDeadline(time.Time{})
		return sw, r
	}
	b := &streamBody{ReadCloser: r.Body, rc: rc, d: d, until: until}
	b.extend()
	r2 := *r
	r2.Body = b
	return sw, &r2
}

// streamWriter pushes the write deadline StreamTimeout ahead before each write and flush.
type streamWriter struct {
	http.ResponseWriter
	rc *http.ResponseController
	d  time.Duration
}

func (s *streamWriter) extend() { _ = s.rc.SetWriteDeadline(time.Now().Add(s.d)) }

func (s *streamWriter) Write(p []byte) (int, error) {
	s.extend()
	return s.ResponseWriter.Write(p)
}

func (s *streamWriter) Flush() { _ = s.FlushError() }

func (s *streamWriter) FlushError() error {
	s.extend()
	return s.rc.Flush()
}

// Unwrap lets http.ResponseController reach the connection.
func (s *streamWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// streamBody pushes the read deadline StreamTimeout ahead before each read, and lifts it
// once the body has ended (the server then reads only to see whether the client left).
type streamBody struct {
	io.ReadCloser
	rc    *http.ResponseController
	d     time.Duration
	until time.Time // zero: no overall deadline
}

func (b *streamBody) extend() {
	next := time.Now().Add(b.d)
	if !b.until.IsZero() && b.until.Before(next) {
		next = b.until
	}
	_ = b.rc.SetReadDeadline(next)
}

func (b *streamBody) Read(p []byte) (int, error) {
	b.extend()
	n, err := b.ReadCloser.Read(p)
	if err != nil {
		_ = b.rc.SetReadDeadline(time.Time{})
	}
	return n, err
}

// Listener caps ln at max open connections (none when max <= 0). A connection past the
// cap is accepted, answered 503 with Retry-After and closed, so its client learns at once
// instead of waiting in the accept queue behind connections that may stay open for an
// IdleTimeout.
func Listener(name string, ln net.Listener, max int) net.Listener {
	if max <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, name: name, slots: make(chan struct{}, max), refusing: make(chan struct{}, maxRefusing)}
}

// maxRefusing bounds the connections being answered 503 at once; past it they are closed
// without an answer.
const maxRefusing = 64

type limitListener struct {
	net.Listener
	name     string
	slots    chan struct{}
	refusing chan struct{}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		refused.WithLabelValues(l.name, "connections").Inc()
		select {
		case l.refusing <- struct{}{}:
			go func() {
				defer func() { <-l.refusing }()
				refuse(c, l.name)
			}()
		default:
			_ = c.Close()
		}
	}
}

// refuse answers a connection over the cap with a 503 in the API's error shape, then
// closes it gracefully (write side first, draining what the client sent meanwhile, so
// the kernel does not reset the connection before the client has read the answer).
// The answer waits for the request's head (or the deadline): an answer that arrives
// before a client has sent its request is, to the client, no answer to it (Go's
// Transport drops it as "unsolicited" and reports a broken connection).
func refuse(c net.Conn, name string) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	awaitRequestHead(c)
	body := fmt.Sprintf(`{"error":"the %s listener has its maximum of open connections; retry shortly","reason":"TooManyConnections"}`+"\n", name)
	_, err := io.WriteString(c, "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nX-Content-Type-Options: nosniff\r\n"+
		"Retry-After: 1\r\nConnection: close\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body)
	if err != nil {
		return
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(c, 64<<10))
}

// awaitRequestHead reads until the end of a request's header block, 8 KiB, or the
// connection's deadline, whichever comes first; what it read is discarded.
func awaitRequestHead(c net.Conn) {
	var seen []byte
	buf := make([]byte, 1024)
	for len(seen) < 8<<10 {
		n, err := c.Read(buf)
		seen = append(seen, buf[:n]...)
		if bytes.Contains(seen, []byte("\r\n\r\n")) || err != nil {
			return
		}
	}
}

// limitConn frees its slot once, on the first Close.
type limitConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite keeps the server's graceful close (half-close, then drain) working.
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
