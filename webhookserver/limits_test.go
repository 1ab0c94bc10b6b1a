package webhookserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/console"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// startLimited serves the internal and metrics listeners (the ones that need no control
// plane) with the bounds given, and returns their addresses and a valid step token for
// run acme/r.
func startLimited(t *testing.T, internal, metrics Limits) (Addrs, stepCreds) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	iss, err := steptoken.LoadIssuer(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Plain metrics: these tests are about the listener's bounds (metrics_test.go tests its
	// authentication).
	addrs, wait, err := Start(ctx, Options{PublicAddr: "0", UserAddr: "0", InternalAddr: "127.0.0.1:0", MetricsAddr: "127.0.0.1:0", InsecureMetrics: true,
		StepTokenKeyFile: keyFile, DatabaseURL: testStore.Pool().Config().ConnString(), MaxLogBatch: 1000,
		InternalLimits: internal, MetricsLimits: metrics})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = wait() })
	run := steptoken.Run{Namespace: "acme", Name: "r", UID: servertest.FreshUID()}
	// What the Run controller does before any step runs: the step API serves only
	// attempts of an indexed, unfinished Run.
	if err := testStore.UpsertRun(ctx, store.RunRecord{UID: run.UID, Namespace: run.Namespace, Name: run.Name, Workflow: "wf",
		Phase: "Running", Trigger: "Manual", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	ticket := iss.IssueAttempt(steptoken.Attempt{Run: run, Step: "s", Attempt: 1, Expires: time.Now().Add(time.Hour)})
	return addrs, stepCreds{token: iss.Issue(run), ticket: ticket}
}

// stepCreds are what a step attempt presents to the step API.
type stepCreds struct{ token, ticket string }

func (c stepCreds) set(h http.Header) {
	h.Set("Authorization", "Bearer "+c.token)
	h.Set(stepjob.TicketHeader, c.ticket)
}

func dialT(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// stalledLogAppend starts an authorized log append that sends 10 of its 1000 body bytes
// and stops: the handler holds a request slot reading it.
func stalledLogAppend(t *testing.T, addr string, creds stepCreds) net.Conn {
	t.Helper()
	c := dialT(t, addr)
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n%s: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"lines\":",
		stepjob.AttemptPath("acme", "r", "s", 1)+stepjob.PathLogs, creds.token, stepjob.TicketHeader, creds.ticket)
	return c
}

// waitClosed reads from c until the server closes it, failing unless that happens by d;
// it returns the status of what the server answered first (0 for nothing).
func waitClosed(t *testing.T, c net.Conn, d time.Duration) int {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(d))
	br := bufio.NewReader(c)
	status := 0
	if resp, err := http.ReadResponse(br, nil); err == nil {
		status = resp.StatusCode
	}
	_, err := io.Copy(io.Discard, br)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v", d)
	}
	return status
}

// A client that stops sending its body in the middle loses its connection within the
// listener's read timeout (before the listeners had one, it kept it for as long as it liked).
func TestListenerClosesStalledBody(t *testing.T) {
	addrs, token := startLimited(t, Limits{ReadTimeout: 500 * time.Millisecond}, Limits{})
	c := stalledLogAppend(t, addrs.Internal, token)
	start := time.Now()
	waitClosed(t, c, 5*time.Second)
	t.Logf("closed after %v", time.Since(start).Round(time.Millisecond))
}

// A keep-alive connection that sends nothing more is closed within the idle timeout.
func TestListenerClosesIdleKeepAlive(t *testing.T) {
	addrs, _ := startLimited(t, Limits{}, Limits{IdleTimeout: 500 * time.Millisecond})
	c := dialT(t, addrs.Metrics)
	fmt.Fprintf(c, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Close {
		t.Fatalf("metrics: %d close=%v, want a kept-alive 200", resp.StatusCode, resp.Close)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); err == nil {
		t.Fatal("unexpected bytes on an idle connection")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("idle keep-alive connection still open after 5s")
	}
}

// N slow clients (twice the in-flight cap) cannot hold more than the cap: the rest are
// answered 503 at once, a fast client is answered at once (served, or 503 to retry), and
// once the slow ones are cut off at the read timeout the fast one is served.
func TestListenerSlowClientsCannotStallAFastOne(t *testing.T) {
	const cap = 3
	lim := Limits{ReadTimeout: 1500 * time.Millisecond, MaxInFlight: cap}
	addrs, token := startLimited(t, lim, Limits{})
	slow := make([]net.Conn, 2*cap)
	for i := range slow {
		slow[i] = stalledLogAppend(t, addrs.Internal, token)
	}
	fast := func(within time.Duration) int {
		t.Helper()
		client := &http.Client{Timeout: within, Transport: &http.Transport{DisableKeepAlives: true}}
		req, _ := http.NewRequest("PUT", "http://"+addrs.Internal+stepjob.AttemptPath("acme", "r", "s", 1)+stepjob.PathOutcome, bytes.NewReader([]byte("{}")))
		token.set(req.Header)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("the fast client was not answered within %v: %v", within, err)
		}
		defer resp.Body.Close()
		var body struct{ Error, Reason string }
		_ = json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode == http.StatusServiceUnavailable && (resp.Header.Get("Retry-After") == "" || body.Reason == "") {
			t.Errorf("503 without Retry-After or JSON reason: %v %+v", resp.Header, body)
		}
		return resp.StatusCode
	}
	// The fast request is refused (400: no exit code) once served, or 503 while full.
	if code := fast(time.Second); code != http.StatusBadRequest && code != http.StatusServiceUnavailable {
		t.Errorf("fast client beside %d slow ones: %d", len(slow), code)
	}
	refused := 0
	for _, c := range slow {
		if waitClosed(t, c, 5*time.Second) == http.StatusServiceUnavailable {
			refused++
		}
	}
	if refused < len(slow)-cap {
		t.Errorf("%d of %d slow clients were refused, want at least %d (cap %d)", refused, len(slow), len(slow)-cap, cap)
	}
	if code := fast(time.Second); code != http.StatusBadRequest {
		t.Errorf("fast client after the slow ones were cut off: %d, want 400", code)
	}
}

// The flags set every listener's bounds; zero or less is refused, and the defaults are
// DefaultLimits.
func TestLimitFlags(t *testing.T) {
	base := []string{"--database-url=postgres://x", "--step-token-key-file=/k"}
	o, err := ParseFlags(base)
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]Limits{"public": o.PublicLimits, "user": o.UserLimits, "internal": o.InternalLimits, "metrics": o.MetricsLimits} {
		if want := DefaultLimits(name); got != want {
			t.Errorf("%s limits %+v, want the defaults %+v", name, got, want)
		}
	}
	o, err = ParseFlags(append(base, "--http-read-timeout=7s", "--http-idle-timeout=9s", "--http-max-connections=5", "--public-max-in-flight=3"))
	if err != nil {
		t.Fatal(err)
	}
	if o.PublicLimits.ReadTimeout != 7*time.Second || o.MetricsLimits.IdleTimeout != 9*time.Second || o.UserLimits.MaxConnections != 5 ||
		o.PublicLimits.MaxInFlight != 3 || o.InternalLimits.MaxInFlight != DefaultLimits("internal").MaxInFlight {
		t.Errorf("flags not applied: %+v", o)
	}
	if o.UserFollows != console.DefaultFollowLimits {
		t.Errorf("follow limits %+v, want the defaults %+v", o.UserFollows, console.DefaultFollowLimits)
	}
	o, err = ParseFlags(append(base, "--user-max-follows-per-user=3", "--user-max-follows-per-namespace=7", "--user-follow-access-recheck=5s"))
	if err != nil {
		t.Fatal(err)
	}
	if want := (console.FollowLimits{PerUser: 3, PerNamespace: 7, AccessRecheck: 5 * time.Second}); o.UserFollows != want {
		t.Errorf("follow limits %+v, want %+v", o.UserFollows, want)
	}
	for _, bad := range []string{"--http-write-timeout=0", "--http-stream-timeout=-1s", "--user-max-in-flight=0", "--http-max-header-bytes=-5",
		"--user-max-follows-per-user=0", "--user-max-follows-per-namespace=-1", "--user-follow-access-recheck=0s"} {
		if _, err := ParseFlags(append(base, bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
