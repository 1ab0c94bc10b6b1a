// Package noisy runs the noisy-neighbour scenario of issue 21: on the whole product —
// the control plane with kube-controller-manager, kube-scheduler and the node agent
// running step Pods as processes, PostgreSQL, the manager, and `aias webhookserver` as a
// process of its own (so that its memory is its own) — tenant A floods every shared path
// a tenant can reach while tenant B delivers, runs steps and reads through the user API.
// B must lose nothing, B's latencies must stay close to what they are without A, and the
// webhookserver must stay within the chart's memory limit. The test in this package
// asserts that; `make bench` reports the same figures in BENCHMARKS.md.
package noisy

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/aias-dev/aias/internal/cli"
	"github.com/aias-dev/aias/internal/manager"
	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/nodeagent"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
)

// MemoryLimit is the webhookserver container's memory limit in the chart
// (charts/aias/values.yaml, webhookserver.resources.limits.memory).
const MemoryLimit = 256 << 20

// Stack is the running product.
type Stack struct {
	Env    *testenv.Env
	Store  *store.Store
	Tokens *steptoken.Issuer // mints step credentials as the manager does (a hostile step holds its own)
	// Public, User and Internal are the webhookserver's listeners (base URLs).
	Public, User, Internal string
	// Aias is the binary the webhookserver runs; AiasStep the step runtime the step
	// Pods run (cmd/aias-step).
	Aias, AiasStep string

	dir       string
	keyFile   string
	pg        *postgres.Server
	dropDB    func(context.Context) error
	server    *exec.Cmd
	serverMu  sync.Mutex
	serverLog *os.File
	agent     *nodeagent.Agent
	stop      context.CancelFunc
	wg        sync.WaitGroup
	log       logr.Logger
}

// Options configure Start.
type Options struct {
	// Log receives progress; nil discards.
	Log io.Writer
}

// Start brings the stack up; Stop brings it down (call it on every path).
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	s = &Stack{}
	defer func() {
		if err != nil {
			_ = s.Stop()
			s = nil
		}
	}()
	if s.dir, err = os.MkdirTemp("", "aias-noisy-"); err != nil {
		return s, err
	}
	// The node agent runs step processes as the step's user (uid 65532): the pod
	// directories under dir must be reachable for it.
	if err := os.Chmod(s.dir, 0o755); err != nil {
		return s, err
	}
	out := o.Log
	if out == nil {
		out = io.Discard
	}
	s.log = zap.New(zap.UseDevMode(true), zap.WriteTo(out), zap.StacktraceLevel(zapcore.PanicLevel))

	s.Aias, s.AiasStep = filepath.Join(s.dir, "aias"), filepath.Join(s.dir, "aias-step")
	if err := fixtures.BuildAias(ctx, s.Aias); err != nil {
		return s, err
	}
	if err := fixtures.BuildAiasStep(ctx, s.AiasStep); err != nil {
		return s, err
	}
	logf := func(f string, a ...any) { fmt.Fprintf(out, f+"\n", a...) }
	if s.pg, err = postgres.Acquire(ctx, logf); err != nil {
		return s, err
	}
	var dbURL string
	if dbURL, s.dropDB, err = s.pg.CreateDatabase(ctx, "aias_noisy_test"); err != nil {
		return s, err
	}
	if s.Env, err = testenv.StartWith(testenv.Options{NoSignalHandler: true}); err != nil {
		return s, err
	}
	if s.Store, err = store.Open(ctx, dbURL); err != nil {
		return s, err
	}
	keyFile := filepath.Join(s.dir, "step-token.key")
	s.keyFile = keyFile
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return s, err
	}
	if s.Tokens, err = steptoken.NewIssuer(key); err != nil {
		return s, err
	}
	if err := s.startWebhookserver(ctx, dbURL, keyFile); err != nil {
		return s, err
	}

	runCtx, stop := context.WithCancel(context.Background())
	s.stop = stop
	mopts := manager.Options{
		MetricsAddr: "0", ProbeAddr: "0", DatabaseURL: dbURL, StepTokenKeyFile: keyFile,
		RunnerImage: "aias-noisy-runner", InternalAPIURL: s.Internal,
		Zap: zap.Options{Development: true, DestWriter: out, StacktraceLevel: zapcore.PanicLevel},
	}
	managerDone := make(chan error, 1)
	s.wg.Go(func() { managerDone <- manager.Run(runCtx, s.Env.Config, mopts) })

	pods := filepath.Join(s.dir, "pods")
	if err := os.Mkdir(pods, 0o755); err != nil {
		return s, err
	}
	s.agent = &nodeagent.Agent{Config: s.Env.Config, NodeName: "noisy-node", WorkRoot: pods,
		Binaries: map[string]string{stepjob.StepImageBinary: s.AiasStep}, Log: s.log.WithName("nodeagent")}
	agentDone := make(chan error, 1)
	s.wg.Go(func() { agentDone <- s.agent.Run(runCtx) })
	select {
	case <-s.agent.Ready():
	case err := <-agentDone:
		return s, fmt.Errorf("node agent: %v", err)
	case err := <-managerDone:
		return s, fmt.Errorf("manager: %v", err)
	case <-time.After(90 * time.Second):
		return s, errors.New("node agent not ready after 90 s")
	}
	return s, nil
}

// headroom is a variable: MemoryLimit*cli.MemoryHeadroom is a constant no integer holds.
var headroom = cli.MemoryHeadroom

// startWebhookserver runs `aias webhookserver` as the chart does, with its defaults,
// and waits until its listeners answer.
func (s *Stack) startWebhookserver(ctx context.Context, dbURL, keyFile string) error {
	kubeconfig := filepath.Join(s.dir, "kubeconfig")
	if err := s.Env.WriteKubeconfig(kubeconfig); err != nil {
		return err
	}
	ports := make([]string, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ports[i] = l.Addr().String()
		l.Close()
	}
	s.Public, s.User, s.Internal = "http://"+ports[0], "http://"+ports[1], "http://"+ports[2]
	var err error
	if s.serverLog, err = os.Create(filepath.Join(s.dir, "webhookserver.log")); err != nil {
		return err
	}
	cmd := exec.Command(s.Aias, "webhookserver", "--public-bind-address="+ports[0], "--user-bind-address="+ports[1],
		"--internal-bind-address="+ports[2], "--metrics-bind-address=0", "--database-url="+dbURL, "--step-token-key-file="+keyFile)
	// What `aias webhookserver` sets itself in a container of the chart's 256 MiB limit
	// (internal/cli: MemoryHeadroom of the cgroup's limit); the test's process has no such cgroup.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, fmt.Sprintf("GOMEMLIMIT=%d", int64(MemoryLimit*headroom)))
	cmd.Stdout, cmd.Stderr = s.serverLog, s.serverLog
	if err := cmd.Start(); err != nil {
		return err
	}
	s.serverMu.Lock()
	s.server = cmd
	s.serverMu.Unlock()
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(s.Public + "/")
		if err == nil {
			resp.Body.Close()
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("the webhookserver did not listen within 60 s:\n%s", s.WebhookserverLog())
		}
	}
}

// WebhookserverLog is what the webhookserver process printed.
func (s *Stack) WebhookserverLog() string {
	if s.serverLog == nil {
		return ""
	}
	b, _ := os.ReadFile(s.serverLog.Name())
	return string(b)
}

// WebhookserverMemory is the webhookserver process's resident memory now and at its
// peak (VmRSS and VmHWM), in bytes.
func (s *Stack) WebhookserverMemory() (rss, peak int64, err error) {
	s.serverMu.Lock()
	cmd := s.server
	s.serverMu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0, 0, errors.New("no webhookserver process")
	}
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(value)
		if len(fields) == 0 {
			continue
		}
		kib, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			rss = kib << 10
		case "VmHWM":
			peak = kib << 10
		}
	}
	return rss, peak, sc.Err()
}

// Stop stops everything Start started.
func (s *Stack) Stop() error {
	var errs []error
	if s.stop != nil {
		s.stop()
	}
	if s.agent != nil {
		s.agent.Stop()
	}
	s.serverMu.Lock()
	if s.server != nil && s.server.Process != nil {
		_ = s.server.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = s.server.Process.Kill()
		}
	}
	s.serverMu.Unlock()
	waited := make(chan struct{})
	go func() { s.wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(60 * time.Second):
		errs = append(errs, errors.New("the manager or the node agent did not stop within 60 s"))
	}
	if s.Store != nil {
		s.Store.Close()
	}
	if s.Env != nil {
		errs = append(errs, s.Env.Stop())
	}
	if s.dropDB != nil {
		errs = append(errs, s.dropDB(context.Background()))
	}
	if s.pg != nil {
		errs = append(errs, s.pg.Release())
	}
	if s.serverLog != nil {
		s.serverLog.Close()
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
	return errors.Join(errs...)
}
