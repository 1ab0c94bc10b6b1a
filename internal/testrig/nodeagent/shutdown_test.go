package nodeagent

import (
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// Stopping the agent kills a process that ignores SIGTERM after MaxGracePeriod, as it
// does when a Pod is deleted: a step-run retrying its uploads against an unreachable
// step API held `aias dev`'s Ctrl-C and every test's teardown for minutes.
func TestStopKillsProcessesThatIgnoreTERM(t *testing.T) {
	t.Parallel()
	ns := newNamespace(t)
	a := startAgent(t, func(a *Agent) { a.MaxGracePeriod = time.Second })
	pidfile := filepath.Join(sharedDir(t), "pid")
	p := makePod(ns, a.NodeName, "ignores-sigterm", `trap "" TERM; sleep 60 & echo $$$$ $! > "$PIDFILE"; wait`)
	p.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "PIDFILE", Value: pidfile}}
	create(t, p)
	pids := readPIDs(t, pidfile, 2)
	waitPhase(t, p, 10*time.Second, corev1.PodRunning)

	start := time.Now()
	a.stop()
	took := time.Since(start)
	t.Logf("agent stopped in %v", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("the agent took %v to stop, want about MaxGracePeriod (1s)", took.Round(time.Millisecond))
	}
	waitGone(t, time.Second, pids...)
}
