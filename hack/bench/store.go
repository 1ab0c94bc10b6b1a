package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/stepapi"
)

// The store and internal step API rows (issue 3): each AIAS figure against raw pgx on
// the same database.

// client keeps a connection per concurrent uploader alive, as step pods do; the default
// transport keeps two per host and would measure TCP handshakes instead of AIAS.
var client = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

// discard reads an answer to its end and closes it. A body closed unread closes its
// connection too (net/http cannot reuse it), so every request would pay a new one: the
// keep-alive clients these figures claim.
func discard(resp *http.Response) {
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
}

type env struct {
	ctx    context.Context
	st     *store.Store
	api    *httptest.Server
	tokens *steptoken.Issuer
}

// storeRows measures the store and the internal step API (issue 3) and returns the
// table rows. stepBin is the built step runtime, aias-step (for step-run).
func storeRows(ctx context.Context, st *store.Store, stepBin string) ([]string, error) {
	tokens, _ := steptoken.NewIssuer(bytes.Repeat([]byte("b"), 32))
	api := httptest.NewServer((&stepapi.Server{Store: st, Tokens: tokens, MaxArtifactBytes: 1 << 30, MaxLogBatch: 1000}).Handler())
	defer api.Close()
	e := &env{ctx: ctx, st: st, api: api, tokens: tokens}
	if _, err := st.Pool().Exec(ctx, `create table bench_raw (k text, data bytea); create table bench_logs (like run_logs including all);
		create table bench_blobs (like blobs including all); create table bench_chunks (like blob_chunks including all);
		create table bench_artifacts (like artifacts including all)`); err != nil {
		return nil, err
	}

	var rows []string
	for _, c := range []struct {
		label   string
		size    int
		n       int
		clients int
	}{{"4 KiB", 4 << 10, 8000, 64}, {"1 MiB", 1 << 20, 100, 4}} {
		apiRate, err := e.artifactIngest(c.size, c.n, c.clients)
		if err != nil {
			return nil, err
		}
		plainRate, err := e.rawCopy(c.size, c.n)
		if err != nil {
			return nil, err
		}
		rawRate, err := e.schemaCopy(c.size, c.n)
		if err != nil {
			return nil, err
		}
		mb := func(r float64) float64 { return r * float64(c.size) / (1 << 20) }
		if c.size < 64<<10 {
			// What HTTP alone allows on this machine: the same uploads to a handler that
			// only reads the body. Client and server share the cores, as they do here.
			httpRate, err := e.httpOnly(c.size, c.n, c.clients)
			if err != nil {
				return nil, err
			}
			rows = append(rows, fmt.Sprintf("| HTTP alone, %s × %d (%d clients, handler only reads the body) | %.0f requests/s | %.0f artifacts/s (raw pgx CopyFrom into the store's schema) | %.2f (bound on the row below) |",
				c.label, c.n, c.clients, httpRate, rawRate, httpRate/rawRate))
		}
		rows = append(rows, fmt.Sprintf("| artifact ingest, %s × %d (%d clients) | %.0f artifacts/s, %.1f MB/s | %.0f artifacts/s, %.1f MB/s (raw pgx CopyFrom of the same rows into tables of the store's shape and keys: blobs, blob_chunks, artifacts; into one plain bytea table: %.0f rows/s, ratio %.2f) | **%.2f** (goal ≥ 0.5) |",
			c.label, c.n, c.clients, apiRate, mb(apiRate), rawRate, mb(rawRate), plainRate, apiRate/plainRate, apiRate/rawRate))
	}
	apiLines, rawLines, err := e.logAppend(100000, 4)
	if err != nil {
		return nil, err
	}
	rows = append(rows, fmt.Sprintf("| log append, 100,000 lines of 80 bytes in batches of 500 from 4 step attempts | %.0f lines/s | %.0f lines/s (raw pgx CopyFrom into a table of run_logs's shape and keys) | **%.2f** (goal ≥ 0.5) |", apiLines, rawLines, apiLines/rawLines))
	rssKiB, err := e.stepRunRSS(stepBin, 100<<20)
	if err != nil {
		return nil, err
	}
	rows = append(rows, fmt.Sprintf("| step-run (`aias-step step-run`) peak RSS uploading a 100 MiB stdout | %.1f MiB | — | goal < 32 MiB |", float64(rssKiB)/1024))

	return rows, nil
}

func payloads(size, n int) [][]byte {
	p := make([][]byte, n)
	for i := range p {
		p[i] = make([]byte, size)
		_, _ = rand.Read(p[i]) // distinct content: no dedup shortcut
	}
	return p
}

// openRun indexes run as the Run controller does before any step runs: the step API
// serves only attempts of an indexed, unfinished Run.
func (e *env) openRun(run steptoken.Run) error {
	return e.st.UpsertRun(e.ctx, store.RunRecord{UID: run.UID, Namespace: run.Namespace, Name: run.Name, Workflow: "w",
		Phase: "Running", Trigger: "Manual", CreatedAt: time.Now()})
}

// ticket is attempt 1 of step's ticket.
func (e *env) ticket(run steptoken.Run, step string) string {
	return e.tokens.IssueAttempt(steptoken.Attempt{Run: run, Step: step, Attempt: 1, Expires: time.Now().Add(time.Hour)})
}

// authorize sets what step-run sends: the run token and the attempt's ticket.
func (e *env) authorize(req *http.Request, run steptoken.Run, step string) {
	req.Header.Set("Authorization", "Bearer "+e.tokens.Issue(run))
	req.Header.Set(stepjob.TicketHeader, e.ticket(run, step))
}

// artifactIngest uploads n distinct artifacts through the internal API with concurrent clients.
func (e *env) artifactIngest(size, n, clients int) (float64, error) {
	data := payloads(size, n)
	run := steptoken.Run{Namespace: "bench", Name: fmt.Sprintf("ingest-%d", size), UID: fmt.Sprintf("00000000-0000-4000-8000-%012d", size)}
	if err := e.openRun(run); err != nil {
		return 0, err
	}
	// A step attempt stores at most stepapi.MaxArtifactsPerAttempt artifacts, and uploads
	// to one attempt at most --max-uploads-per-attempt at once: spread them round robin, so
	// that the clients' uploads in flight go to different attempts, as steps' do.
	const perAttempt = 100
	attempts := (n + perAttempt - 1) / perAttempt
	step := func(i int) string { return fmt.Sprintf("s%d", i%attempts) }
	start := time.Now()
	err := parallel(n, clients, func(i int) error {
		url := e.api.URL + stepjob.AttemptPath("bench", run.Name, step(i), 1) + stepjob.PathArtifacts + fmt.Sprintf("a%d", i)
		req, _ := http.NewRequest(http.MethodPut, url, bytes.NewReader(data[i]))
		e.authorize(req, run, step(i))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		discard(resp)
		if resp.StatusCode != http.StatusCreated {
			return fmt.Errorf("upload status %d", resp.StatusCode)
		}
		return nil
	})
	return float64(n) / time.Since(start).Seconds(), err
}

// httpOnly uploads like artifactIngest to a server that stores nothing.
func (e *env) httpOnly(size, n, clients int) (float64, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	data := payloads(size, n)
	start := time.Now()
	err := parallel(n, clients, func(i int) error {
		req, _ := http.NewRequest(http.MethodPut, srv.URL+"/x", bytes.NewReader(data[i]))
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.Body.Close()
	})
	return float64(n) / time.Since(start).Seconds(), err
}

// schemaCopy is the ceiling: the rows an upload of each artifact produces — its blob,
// its chunk, its artifact record — written with one CopyFrom per table in one
// transaction, into tables of the store's shape and keys. Digests are computed before
// the clock starts: the ceiling is the database's best, not the server's.
func (e *env) schemaCopy(size, n int) (float64, error) {
	data := payloads(size, n)
	digests := make([]string, n)
	for i, d := range data {
		sum := sha256.Sum256(d)
		digests[i] = "sha256:" + hex.EncodeToString(sum[:])
	}
	var uid pgtype.UUID
	_ = uid.Scan(fmt.Sprintf("00000000-0000-4000-9000-%012d", size))
	start := time.Now()
	err := pgx.BeginFunc(e.ctx, e.st.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.CopyFrom(e.ctx, pgx.Identifier{"bench_blobs"}, []string{"digest", "size"},
			pgx.CopyFromSlice(n, func(i int) ([]any, error) { return []any{digests[i], int64(size)}, nil })); err != nil {
			return err
		}
		if _, err := tx.CopyFrom(e.ctx, pgx.Identifier{"bench_chunks"}, []string{"digest", "seq", "data"},
			pgx.CopyFromSlice(n, func(i int) ([]any, error) { return []any{digests[i], int32(0), data[i]}, nil })); err != nil {
			return err
		}
		_, err := tx.CopyFrom(e.ctx, pgx.Identifier{"bench_artifacts"}, []string{"namespace", "run_uid", "run_name", "step", "attempt", "name", "digest", "content_type", "size"},
			pgx.CopyFromSlice(n, func(i int) ([]any, error) {
				return []any{"bench", uid, "ingest", "s", int32(1), fmt.Sprintf("a%d", i), digests[i], "application/octet-stream", int64(size)}, nil
			}))
		return err
	})
	return float64(n) / time.Since(start).Seconds(), err
}

// rawCopy is the plainest ceiling: the same bytes written with one CopyFrom.
func (e *env) rawCopy(size, n int) (float64, error) {
	data := payloads(size, n)
	start := time.Now()
	_, err := e.st.Pool().CopyFrom(e.ctx, pgx.Identifier{"bench_raw"}, []string{"k", "data"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) { return []any{fmt.Sprint(i), data[i]}, nil }))
	return float64(n) / time.Since(start).Seconds(), err
}

// logAppend sends n lines as batches of 500 from `writers` concurrent step attempts
// (bodies encoded up front: encoding is the step pod's work, not the server's), and
// copies the same lines into a table of run_logs's shape and keys for the ceiling.
func (e *env) logAppend(n, writers int) (apiRate, rawRate float64, err error) {
	const batch = 500
	run := steptoken.Run{Namespace: "bench", Name: "logs", UID: "00000000-0000-4000-8000-0000000000aa"}
	if err := e.openRun(run); err != nil {
		return 0, 0, err
	}
	line := strings.Repeat("x", 80)
	now := time.Now()
	bodies := make([][][]byte, writers)
	for w := range writers {
		for b := 0; b < n/writers; b += batch {
			lines := make([]stepjob.LogLine, batch)
			for i := range lines {
				lines[i] = stepjob.LogLine{Stream: stepjob.StreamStdout, Seq: int64(b + i + 1), Time: now, Line: line}
			}
			body, _ := json.Marshal(stepjob.LogBatch{Lines: lines})
			bodies[w] = append(bodies[w], body)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	start := time.Now()
	for w := range writers {
		wg.Go(func() {
			url := e.api.URL + stepjob.AttemptPath("bench", "logs", fmt.Sprintf("s%d", w), 1) + stepjob.PathLogs
			for _, body := range bodies[w] {
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				e.authorize(req, run, fmt.Sprintf("s%d", w))
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				discard(resp)
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("log append status %d", resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	apiRate = float64(n) / time.Since(start).Seconds()
	close(errs)
	if err := <-errs; err != nil {
		return 0, 0, err
	}
	start = time.Now()
	// The ceiling gets the cheapest encoding too: typed uuid and int4, as AppendLogs does.
	var uid pgtype.UUID
	_ = uid.Scan(run.UID)
	_, err = e.st.Pool().CopyFrom(e.ctx, pgx.Identifier{"bench_logs"}, []string{"namespace", "run_uid", "step", "attempt", "stream", "seq", "ts", "line"},
		pgx.CopyFromSlice(n, func(i int) ([]any, error) {
			return []any{"bench", uid, "s", int32(1), "stdout", int64(i + 1), now, line}, nil
		}))
	rawRate = float64(n) / time.Since(start).Seconds()
	return apiRate, rawRate, err
}

// stepRunRSS runs the real step runtime (bin, aias-step) on a command printing size bytes
// and reports the peak resident set of step-run (VmHWM, KiB).
func (e *env) stepRunRSS(bin string, size int) (int64, error) {
	dir, err := os.MkdirTemp("", "aias-bench-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	run := steptoken.Run{Namespace: "bench", Name: "rss", UID: "00000000-0000-4000-8000-0000000000bb"}
	digest, err := e.st.PutInput(e.ctx, "bench", []byte("{}"), "application/json")
	if err != nil {
		return 0, err
	}
	if err := e.st.UpsertRun(e.ctx, store.RunRecord{UID: run.UID, Namespace: "bench", Name: "rss", Workflow: "w", Phase: "Running", Trigger: "Manual", InputDigest: digest, CreatedAt: time.Now()}); err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, "step-run", "--", "sh", "-c", fmt.Sprintf("yes 'aias benchmark output line of some length' | head -c %d", size))
	env := map[string]string{stepjob.EnvAPIURL: e.api.URL, stepjob.EnvToken: e.tokens.Issue(run), stepjob.EnvNamespace: "bench",
		stepjob.EnvTicket: e.ticket(run, "s"),
		stepjob.EnvRun:    "rss", stepjob.EnvStep: "s", stepjob.EnvAttempt: "1", stepjob.EnvWorkDir: dir, stepjob.EnvOutputDir: filepath.Join(dir, "out")}
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	// VmHWM of the process's own address space. (wait4's ru_maxrss is no good here: Linux
	// folds the parent's RSS into it when the child execs from a vfork.)
	var peak int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			if kib := vmHWM(cmd.Process.Pid); kib > peak {
				peak = kib
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	err = cmd.Wait()
	close(stop)
	<-sampled
	if err != nil {
		b := out.Bytes()
		return 0, fmt.Errorf("step-run: %v\n%s", err, b[max(0, len(b)-2000):])
	}
	return peak, nil
}

// vmHWM reads the peak resident set (KiB) of a running process, 0 when it is gone.
func vmHWM(pid int) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kib int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kib)
			return kib
		}
	}
	return 0
}
