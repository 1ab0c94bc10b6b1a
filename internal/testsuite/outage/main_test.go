// Package outage proves that outages lose nothing (issue 13, item 9): with PostgreSQL
// stopped, with the kube-apiserver restarted, and with two webhookserver replicas taking
// the same deliveries at once, every delivery becomes exactly one Run, and every Run
// completes with every log line and artifact its step produced.
//
// The package runs the whole product on one machine, as `aias dev` does but with every
// part under the test's control: envtest's kube-apiserver and etcd with
// kube-controller-manager and kube-scheduler, a PostgreSQL server of its own (started
// from the local binaries, so it can be stopped and started again), two webhookserver
// replicas on that database, a round-robin proxy in front of their internal step APIs
// (the Service step Pods reach), the manager with leader election (restarted when it
// exits, as its Deployment would), and a node agent running the step Pods as processes of
// the real step runtime (cmd/aias-step).
package outage

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/aias-dev/aias/internal/manager"
	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/nodeagent"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
	"github.com/aias-dev/aias/webhookserver"
)

// stk is the running product the tests share.
var stk *stack

// replica is one webhookserver process's listeners (base URLs).
type replica struct {
	name                   string
	public, internal, user string
}

type stack struct {
	dir     string
	env     *testenv.Env
	pg      *postgres.Ephemeral
	dbURL   string
	store   *store.Store // the test's own view of the database
	stepAPI *roundRobin  // the internal step API as step Pods reach it
	agent   *nodeagent.Agent
	logPath string
	log     logr.Logger

	replicas []replica
	// managerRestarts counts the manager's exits while the test ran (e.g. leader
	// election lost while the apiserver was away); each is followed by a restart.
	managerRestarts atomic.Int32
	// failures receives the unexpected exit of a component that is not restarted.
	failures chan error

	mu       sync.Mutex
	cleanups []func()
	tornDown bool
	wg       sync.WaitGroup

	// opMu is held by start, by teardown and by each outage step (op), so that a signal
	// during any of them tears down only once it is over, and nothing starts afterwards.
	opMu         sync.Mutex
	teardownOnce sync.Once
}

// op runs an outage step (stopping or starting PostgreSQL or the apiserver) unless the
// stack has been torn down: one after it would start what nobody stops.
func (s *stack) op(f func() error) error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.mu.Lock()
	down := s.tornDown
	s.mu.Unlock()
	if down {
		return errors.New("the stack has been stopped")
	}
	return f()
}

// fail records the unexpected exit of a component; TestMain reports the first ones.
func (s *stack) fail(err error) {
	select {
	case s.failures <- err:
	default:
	}
}

// onCleanup registers f to run at teardown, in reverse order of registration; after
// teardown it runs f at once (a component that started while a signal stopped the rest).
func (s *stack) onCleanup(f func()) {
	s.mu.Lock()
	if s.tornDown {
		s.mu.Unlock()
		f()
		return
	}
	s.cleanups = append(s.cleanups, f)
	s.mu.Unlock()
}

// teardown stops everything and removes every file and database; showLogs prints the
// end of the product's log first. Safe to call more than once and at once: every call
// returns when everything is stopped.
func (s *stack) teardown(showLogs bool) {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	s.teardownOnce.Do(func() { s.runCleanups(showLogs) })
}

func (s *stack) runCleanups(showLogs bool) {
	s.mu.Lock()
	s.tornDown = true
	cleanups := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	if showLogs && s.logPath != "" {
		fmt.Fprintf(os.Stderr, "--- last lines of the product's log ---\n%s\n", testenv.TailFile(s.logPath, 150))
	}
	if keep := os.Getenv("AIAS_OUTAGE_LOG"); keep != "" && s.logPath != "" {
		// The whole log of the manager, webhookservers and node agent, kept for reading.
		if b, err := os.ReadFile(s.logPath); err == nil {
			_ = os.WriteFile(keep, b, 0o644)
		}
	}
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	s := &stack{failures: make(chan error, 8)}
	// Ctrl-C or a test timeout's SIGTERM: stop every process, drop everything, then exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sigs)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "outage: %v received, stopping everything\n", sig)
		s.teardown(false)
		os.Exit(1)
	}()
	started := time.Now()
	if err := s.start(); err != nil {
		fmt.Fprintln(os.Stderr, "outage: starting the stack:", err)
		s.teardown(true)
		return 1
	}
	fmt.Fprintf(os.Stderr, "outage: stack up in %s\n", time.Since(started).Round(100*time.Millisecond))
	stk = s
	code := m.Run()
	select {
	case err := <-s.failures:
		fmt.Fprintln(os.Stderr, "outage: a component failed:", err)
		code = 1
	default:
	}
	s.teardown(code != 0)
	return code
}

func (s *stack) start() error {
	s.opMu.Lock()
	defer s.opMu.Unlock()
	dir, err := os.MkdirTemp("", "aias-outage-")
	if err != nil {
		return err
	}
	s.onCleanup(func() { _ = os.RemoveAll(dir) })
	s.dir = dir
	// Run as root, the node agent runs step processes as the step's user (uid 65532):
	// the pod directories under dir must be reachable for it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	s.logPath = filepath.Join(dir, "aias.log")
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return err
	}
	s.onCleanup(func() { _ = logFile.Close() })
	var logOut io.Writer = &syncWriter{w: logFile}
	if os.Getenv("AIAS_TEST_LOGS") != "" {
		logOut = io.MultiWriter(logOut, os.Stderr)
	}
	// Errors without stack traces: outages make many, and the log is read by people.
	s.log = zap.New(zap.UseDevMode(true), zap.WriteTo(logOut), zap.StacktraceLevel(zapcore.PanicLevel))
	ctrl.SetLogger(s.log)

	// The step runtime builds while PostgreSQL and the control plane start.
	aiasStep := filepath.Join(dir, "aias-step")
	built := make(chan error, 1)
	go func() {
		if err := fixtures.BuildAiasStep(context.Background(), aiasStep); err != nil {
			built <- err
		}
		close(built)
	}()
	defer func() { <-built }() // never leave the build running

	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	logf := func(f string, a ...any) { s.log.Info(fmt.Sprintf(f, a...)) }
	if s.pg, err = postgres.StartEphemeral(ctx, logf); err != nil {
		return err
	}
	s.onCleanup(func() {
		if err := s.pg.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "outage: stopping PostgreSQL:", err)
		}
	})
	// The database goes with the server's directory.
	if s.dbURL, _, err = (&postgres.Server{AdminURL: s.pg.URL()}).CreateDatabase(ctx, "aias_outage"); err != nil {
		return err
	}
	if s.env, err = testenv.StartWith(testenv.Options{NoSignalHandler: true}); err != nil {
		return err
	}
	s.onCleanup(func() {
		if err := s.env.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "outage: stopping the control plane:", err)
		}
	})
	if s.store, err = store.Open(ctx, s.dbURL); err != nil {
		return err
	}
	s.onCleanup(s.store.Close)

	keyFile := filepath.Join(dir, "step-token.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return err
	}

	s.stepAPI = &roundRobin{}
	proxy := httptest.NewServer(s.stepAPI)
	s.onCleanup(proxy.Close)

	runCtx, stop := context.WithCancel(context.Background())
	s.onCleanup(func() {
		stop()
		if s.agent != nil {
			s.agent.Stop() // every step process is gone
		}
		done := make(chan struct{})
		go func() { s.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(60 * time.Second):
			fmt.Fprintln(os.Stderr, "outage: components did not stop within 60 s")
		}
	})

	for i := range 2 {
		name := fmt.Sprintf("webhookserver-%d", i)
		addrs, wait, err := webhookserver.Start(runCtx, webhookserver.Options{
			PublicAddr: "127.0.0.1:0", InternalAddr: "127.0.0.1:0", UserAddr: "127.0.0.1:0", MetricsAddr: "0",
			DatabaseURL: s.dbURL, StepTokenKeyFile: keyFile, MaxArtifactBytes: 64 << 20, MaxLogBatch: 1000,
			RestConfig: s.env.Config, Log: s.log.WithName(name),
		})
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		s.wg.Go(func() {
			if err := wait(); err != nil {
				s.fail(fmt.Errorf("%s: %w", name, err))
			}
		})
		s.replicas = append(s.replicas, replica{name: name, public: "http://" + addrs.Public, internal: "http://" + addrs.Internal, user: "http://" + addrs.User})
	}
	if err := s.stepAPI.set(s.replicas); err != nil {
		return err
	}

	mopts := manager.Options{
		MetricsAddr: "0", ProbeAddr: "0",
		DatabaseURL: s.dbURL, StepTokenKeyFile: keyFile,
		RunnerImage: "aias-outage-runner", InternalAPIURL: proxy.URL,
		// As deployed (config/manager): a replica that loses its lease exits, and its
		// Deployment starts it again; the supervisor below plays the Deployment.
		LeaderElect: true, LeaderElectionNamespace: "default", LeaderElectionID: "aias-outage-manager",
		RunAgain: true,
		Zap:      zap.Options{Development: true, DestWriter: logOut, StacktraceLevel: zapcore.PanicLevel},
	}
	s.wg.Go(func() {
		for {
			err := manager.Run(runCtx, s.env.Config, mopts)
			if runCtx.Err() != nil {
				return
			}
			s.managerRestarts.Add(1)
			s.log.Info("outage: the manager exited; restarting it in 1 s", "error", fmt.Sprint(err))
			select {
			case <-runCtx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	})

	if err := <-built; err != nil {
		return err
	}
	pods := filepath.Join(dir, "pods")
	if err := os.Mkdir(pods, 0o755); err != nil {
		return err
	}
	s.agent = &nodeagent.Agent{Config: s.env.Config, NodeName: "outage-node", WorkRoot: pods,
		Binaries: map[string]string{stepjob.StepImageBinary: aiasStep}, KeepFailed: true, Log: s.log.WithName("nodeagent")}
	agentDone := make(chan error, 1)
	s.wg.Go(func() {
		err := s.agent.Run(runCtx)
		agentDone <- err
		if err != nil {
			s.fail(fmt.Errorf("node agent: %w", err))
		}
	})
	select {
	case <-s.agent.Ready():
	case err := <-agentDone:
		return fmt.Errorf("node agent: %v", err)
	case <-time.After(60 * time.Second):
		return errors.New("node agent not ready after 60 s")
	}
	return nil
}

// roundRobin is the internal step API's Service: each request goes to the next replica.
// It counts the answers step-run got, by status, so a test can tell what the steps saw.
type roundRobin struct {
	proxies []*httputil.ReverseProxy
	next    atomic.Uint64

	mu     sync.Mutex // guards proxies and counts
	counts map[int]int
}

func (rr *roundRobin) set(rs []replica) error {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	for _, r := range rs {
		u, err := url.Parse(r.internal)
		if err != nil {
			return err
		}
		p := httputil.NewSingleHostReverseProxy(u)
		p.ModifyResponse = func(resp *http.Response) error { rr.count(resp.StatusCode); return nil }
		p.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
			rr.count(http.StatusBadGateway)
			w.WriteHeader(http.StatusBadGateway)
		}
		rr.proxies = append(rr.proxies, p)
	}
	return nil
}

func (rr *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rr.mu.Lock()
	proxies := rr.proxies
	rr.mu.Unlock()
	if len(proxies) == 0 {
		http.Error(w, "no replicas yet", http.StatusServiceUnavailable)
		return
	}
	proxies[rr.next.Add(1)%uint64(len(proxies))].ServeHTTP(w, r)
}

func (rr *roundRobin) count(code int) {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	if rr.counts == nil {
		rr.counts = map[int]int{}
	}
	rr.counts[code]++
}

// take returns the counts since the last take and starts over.
func (rr *roundRobin) take() map[int]int {
	rr.mu.Lock()
	defer rr.mu.Unlock()
	c := rr.counts
	rr.counts = nil
	if c == nil {
		c = map[int]int{}
	}
	return c
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.w.Write(p)
}
