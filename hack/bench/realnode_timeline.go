package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// nodeTimeline records, from a watch, when each Pod (and Run) of a batch was first seen in
// each stage of its life, so the node section can say where a Run's time goes beside a
// bare Pod's: before its Pod exists (the manager), waiting for a node (the scheduler),
// in the init container, in the step's own container, and after it (the kubelet's status
// write, the manager's Job and Run writes).
type nodeTimeline struct {
	mu     sync.Mutex
	start  time.Time
	seen   map[string]map[string]time.Duration // object → stage → since start
	cancel context.CancelFunc
	done   chan struct{}
}

// The stages in the order a Pod passes them.
var nodeStages = []string{"created", "pod created", "scheduled", "init done", "step started", "step ended", "pod succeeded", "run succeeded"}

func watchTimeline(ctx context.Context, cfg *rest.Config) (*nodeTimeline, error) {
	cl, err := crclient.NewWithWatch(cfg, crclient.Options{Scheme: scheme.Scheme})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	t := &nodeTimeline{start: time.Now(), seen: map[string]map[string]time.Duration{}, cancel: cancel, done: make(chan struct{})}
	pods, err := cl.Watch(ctx, &corev1.PodList{}, crclient.InNamespace(nodeNS))
	if err != nil {
		cancel()
		return nil, err
	}
	runs, err := cl.Watch(ctx, &aiasv1alpha1.RunList{}, crclient.InNamespace(nodeNS))
	if err != nil {
		cancel()
		pods.Stop()
		return nil, err
	}
	go func() {
		defer close(t.done)
		defer pods.Stop()
		defer runs.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-pods.ResultChan():
				if p, ok := ev.Object.(*corev1.Pod); ok && ev.Type != watch.Error {
					t.pod(p)
				}
			case ev := <-runs.ResultChan():
				if r, ok := ev.Object.(*aiasv1alpha1.Run); ok && ev.Type != watch.Error {
					t.mark(r.Name, "created")
					if r.Status.Phase == aiasv1alpha1.RunSucceeded {
						t.mark(r.Name, "run succeeded")
					}
				}
			}
		}
	}()
	return t, nil
}

func (t *nodeTimeline) mark(name, stage string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.seen[name] == nil {
		t.seen[name] = map[string]time.Duration{}
	}
	if _, ok := t.seen[name][stage]; !ok {
		t.seen[name][stage] = time.Since(t.start)
	}
}

func (t *nodeTimeline) pod(p *corev1.Pod) {
	// A step Pod is named after its Job, "<run>-<step>-<attempt>"-like: key it by the
	// Run it belongs to so the Run's and its Pod's stages share a row.
	name := p.Name
	if run := p.Labels[aiasv1alpha1.LabelRun]; run != "" {
		name = run
	} else {
		t.mark(name, "created")
	}
	t.mark(name, "pod created")
	if p.Spec.NodeName != "" {
		t.mark(name, "scheduled")
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodInitialized && c.Status == corev1.ConditionTrue {
			t.mark(name, "init done")
		}
	}
	for _, s := range p.Status.ContainerStatuses {
		if s.State.Running != nil || s.State.Terminated != nil {
			t.mark(name, "step started")
		}
		if s.State.Terminated != nil {
			t.mark(name, "step ended")
		}
	}
	if p.Status.Phase == corev1.PodSucceeded {
		t.mark(name, "pod succeeded")
	}
}

// summary is the median time from each stage to the next over the objects named, e.g.
// "created → pod created 0.12s, pod created → scheduled 0.40s, …".
func (t *nodeTimeline) summary(names []string) string {
	t.cancel()
	<-t.done
	t.mu.Lock()
	defer t.mu.Unlock()
	var parts []string
	for i := 0; i+1 < len(nodeStages); i++ {
		from, to := nodeStages[i], nodeStages[i+1]
		var gaps []time.Duration
		for _, n := range names {
			s := t.seen[n]
			a, okA := s[from]
			b, okB := s[to]
			if okA && okB {
				gaps = append(gaps, b-a)
			}
		}
		if len(gaps) == 0 {
			continue
		}
		slices.Sort(gaps)
		parts = append(parts, fmt.Sprintf("%s → %s %s", from, to, gaps[len(gaps)/2].Round(10*time.Millisecond)))
	}
	return strings.Join(parts, ", ")
}

// slowest describes the object of names that took longest from its first stage to its
// last, stage by stage: where a batch's tail went.
func (t *nodeTimeline) slowest(names []string) string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var worst string
	var worstTook time.Duration
	for _, n := range names {
		s := t.seen[n]
		first, last := time.Duration(1<<62), time.Duration(0)
		for _, d := range s {
			first, last = min(first, d), max(last, d)
		}
		if last-first > worstTook {
			worst, worstTook = n, last-first
		}
	}
	var parts []string
	for _, st := range nodeStages {
		if d, ok := t.seen[worst][st]; ok {
			parts = append(parts, fmt.Sprintf("%s at %s", st, d.Round(10*time.Millisecond)))
		}
	}
	return fmt.Sprintf("%s took %s: %s", worst, worstTook.Round(10*time.Millisecond), strings.Join(parts, ", "))
}
