package noisy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/steptoken"
)

// FloodEnv, when set in a process's environment, makes it A's flood instead of what it
// was going to be (the test binary and the bench check it first thing; see FloodMain):
// its value is the floodOrder, as JSON.
const FloodEnv = "AIAS_NOISY_FLOOD"

// floodOrder is what the flood process needs: where to send, as whom.
type floodOrder struct {
	Public, User, Internal string
	NS, Secret, Token      string
	KeyFile                string
	// Slow and Fast are A's two open Runs: one its slow uploads go to, one its parallel
	// uploads past the cap.
	Slow, Fast runRef
}

type runRef struct{ Namespace, Name, UID string }

func (r runRef) run() *aiasv1alpha1.Run {
	run := &aiasv1alpha1.Run{}
	run.Namespace, run.Name, run.UID = r.Namespace, r.Name, types.UID(r.UID)
	return run
}

func refOf(run *aiasv1alpha1.Run) runRef {
	return runRef{Namespace: run.Namespace, Name: run.Name, UID: string(run.UID)}
}

// FloodMain runs A's flood in this process when FloodEnv is set, until SIGTERM, then
// prints its counts as JSON on stdout; it returns the exit code. With FloodEnv unset it
// returns -1 and does nothing.
//
// A's flood runs in a process of its own, niced: on the test's two cores the attacker's
// own client work (making and signing bodies, holding 300 streams) would otherwise take
// CPU from the server it attacks, which a real attacker's machine does not; what A costs
// the server is what the scenario measures.
func FloodMain() int {
	raw := os.Getenv(FloodEnv)
	if raw == "" {
		return -1
	}
	var o floodOrder
	if err := json.Unmarshal([]byte(raw), &o); err != nil {
		fmt.Fprintln(os.Stderr, "noisy flood:", err)
		return 2
	}
	tokens, err := steptoken.LoadIssuer(o.KeyFile)
	if err != nil {
		fmt.Fprintln(os.Stderr, "noisy flood:", err)
		return 2
	}
	s := &Stack{Public: o.Public, User: o.User, Internal: o.Internal, Tokens: tokens}
	tn := &Tenant{NS: o.NS, Secret: o.Secret, Token: o.Token, s: s}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	c := newCounts()
	var wg sync.WaitGroup
	tn.flood(ctx, &wg, o.Slow.run(), o.Fast.run(), c)
	<-ctx.Done()
	wg.Wait()
	if err := json.NewEncoder(os.Stdout).Encode(c.snapshot()); err != nil {
		return 1
	}
	return 0
}

// floodProcess is a running flood.
type floodProcess struct {
	cmd *exec.Cmd
	out bytes.Buffer
}

// startFlood starts A's flood as a niced process of this very binary.
func (s *Stack) startFlood(a *Tenant, slow, fast *aiasv1alpha1.Run) (*floodProcess, error) {
	order, err := json.Marshal(floodOrder{Public: s.Public, User: s.User, Internal: s.Internal,
		NS: a.NS, Secret: a.Secret, Token: a.Token, KeyFile: s.keyFile, Slow: refOf(slow), Fast: refOf(fast)})
	if err != nil {
		return nil, err
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	p := &floodProcess{cmd: exec.Command("nice", "-n", "19", exe)}
	p.cmd.Env = append(os.Environ(), FloodEnv+"="+string(order))
	p.cmd.Stdout, p.cmd.Stderr = &p.out, os.Stderr
	return p, p.cmd.Start()
}

// stop ends the flood and returns its counts.
func (p *floodProcess) stop() (map[string]map[string]int, error) {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return nil, fmt.Errorf("the flood process: %w", err)
		}
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		return nil, fmt.Errorf("the flood process did not stop within 60 s")
	}
	var counts map[string]map[string]int
	if err := json.Unmarshal(p.out.Bytes(), &counts); err != nil {
		return nil, fmt.Errorf("the flood's counts: %w (%q)", err, p.out.String())
	}
	return counts, nil
}
