package noisy

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/userapi"
)

// Settings shape the scenario.
type Settings struct {
	// Baseline and Flood are how long B's traffic is measured alone and under A's flood.
	Baseline, Flood time.Duration
	// DeliveriesPerSecond is B's steady delivery rate (each starts a one-step Run).
	DeliveriesPerSecond float64
}

// DefaultSettings are the test's. The phases are long enough that B's flooded
// deliveries number over 100, so their p99
// (nearest rank) is not simply their slowest one: on two cores shared by the whole
// product and A's flood, one delivery in a hundred may wait out a scheduling hiccup of
// 100-400 ms, alone as well as flooded (measured on the code before and after issue 25:
// with 50 deliveries a phase the test failed 3 runs in 7 on such single outliers).
func DefaultSettings() Settings {
	return Settings{Baseline: 40 * time.Second, Flood: 55 * time.Second, DeliveriesPerSecond: 2}
}

// Latencies summarize one kind of B's requests in one phase.
type Latencies struct {
	N             int
	P50, P99, Max time.Duration
	// Failed counts answers that were not what B expected (a 202 for a delivery, a 200
	// for a read), by status ("error" for a request that got no answer).
	Failed map[string]int
}

// Figures are what the scenario measured.
type Figures struct {
	// Alone and Flooded are B's latencies by kind: "delivery" (a signed delivery answered
	// 202) and "user-api" (a page of Runs through the user API).
	Alone, Flooded map[string]Latencies
	// RunsNotSucceeded lists B's Runs that did not succeed (B loses nothing: empty).
	RunsNotSucceeded []string
	// RunsChecked is how many of B's Runs were followed to the end.
	RunsChecked int
	// PeakRSS is the webhookserver's peak resident memory (VmHWM) over the scenario;
	// RSSAlone its resident memory after B's phase alone.
	PeakRSS, RSSAlone int64
	// Flood counts A's requests by kind and answer status.
	Flood map[string]map[string]int
	// AArtifactBytes is what A's flooded Run stored, against its plan's cap ACap.
	AArtifactBytes, ACap int64
}

// The plans of the two tenants: A is held to a plan small enough that its flood hits
// every cap; B has none of the limits its steady traffic could reach.
var (
	planA = aiasv1alpha1.PlanLimits{DeliveriesPerMinute: ptr.To[int32](600), ArtifactBytesPerRun: ptr.To[int64](8 << 20),
		LogBytesPerRun: ptr.To[int64](64 << 20), DeliveryLogBytes: ptr.To[int64](4 << 20)}
	planB = aiasv1alpha1.PlanLimits{}
)

// Run sets up tenants a and b, measures B alone, then B under A's flood.
func Run(ctx context.Context, s *Stack, set Settings) (Figures, error) {
	f := Figures{Alone: map[string]Latencies{}, Flooded: map[string]Latencies{}, ACap: *planA.ArtifactBytesPerRun}
	suffix := fmt.Sprint(time.Now().UnixNano() % 100000)
	a, err := s.NewTenant(ctx, "noisy-a-"+suffix, planA)
	if err != nil {
		return f, err
	}
	b, err := s.NewTenant(ctx, "noisy-b-"+suffix, planB)
	if err != nil {
		return f, err
	}
	var peak peakRSS
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go peak.sample(sampleCtx, s)

	alone, runsAlone := b.steady(ctx, set.Baseline, set.DeliveriesPerSecond)
	f.Alone = alone.summary()
	f.RSSAlone, _, _ = s.WebhookserverMemory()

	// A's Runs that stay open: their attempts are what A's steps upload to (slowly to
	// one, in parallel past its cap to the other), their logs what A follows and pages
	// through.
	slow, err := a.startHold(ctx, "hold-slow")
	if err != nil {
		return f, err
	}
	fast, err := a.startHold(ctx, "hold-fast")
	if err != nil {
		return f, err
	}
	flood, err := s.startFlood(a, slow, fast)
	if err != nil {
		return f, err
	}
	time.Sleep(3 * time.Second) // every flood is under way before B is measured again
	flooded, runsFlooded := b.steady(ctx, set.Flood, set.DeliveriesPerSecond)
	f.Flooded = flooded.summary()
	if f.Flood, err = flood.stop(); err != nil {
		return f, err
	}
	if f.AArtifactBytes, err = s.Store.ArtifactBytes(ctx, string(fast.UID), storeKeyNone()); err != nil {
		return f, err
	}
	_ = a.openGate()

	runs := append(runsAlone, runsFlooded...)
	f.RunsChecked = len(runs)
	f.RunsNotSucceeded = b.awaitRuns(ctx, runs, 3*time.Minute)
	stopSampling()
	f.PeakRSS = peak.max()
	if _, hwm, err := s.WebhookserverMemory(); err == nil && hwm > f.PeakRSS {
		f.PeakRSS = hwm
	}
	return f, nil
}

// samples are B's measured requests of one phase.
type samples struct {
	mu     sync.Mutex
	took   map[string][]time.Duration
	failed map[string]map[string]int
}

func (s *samples) add(kind string, d time.Duration, ok bool, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.took == nil {
		s.took, s.failed = map[string][]time.Duration{}, map[string]map[string]int{}
	}
	s.took[kind] = append(s.took[kind], d)
	if !ok {
		if s.failed[kind] == nil {
			s.failed[kind] = map[string]int{}
		}
		s.failed[kind][status]++
	}
}

func (s *samples) summary() map[string]Latencies {
	out := map[string]Latencies{}
	for kind, ds := range s.took {
		slices.Sort(ds)
		q := func(p float64) time.Duration { return ds[min(len(ds)-1, int(p*float64(len(ds))))] }
		out[kind] = Latencies{N: len(ds), P50: q(0.50), P99: q(0.99), Max: ds[len(ds)-1], Failed: s.failed[kind]}
	}
	return out
}

// steady is B's traffic for d: deliveries at rate a second, each starting a Run, and a
// page of its Runs through the user API every 100 ms. It returns the measurements and
// the Runs the deliveries started.
func (tn *Tenant) steady(ctx context.Context, d time.Duration, rate float64) (*samples, []string) {
	s := &samples{}
	var runs []string
	var mu sync.Mutex
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			wg.Go(func() {
				body := fmt.Appendf(nil, `{"n":%d}`, i)
				req, err := tn.signed(context.Background(), "work", fmt.Sprintf("b-%d-%d", time.Now().UnixNano(), i), body)
				if err != nil {
					s.add("delivery", 0, false, "error")
					return
				}
				start := time.Now()
				resp, err := bClient.Do(req)
				took := time.Since(start)
				if err != nil {
					s.add("delivery", took, false, "error")
					return
				}
				var out struct{ Run string }
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				_ = jsonUnmarshal(raw, &out)
				ok := resp.StatusCode == http.StatusAccepted && out.Run != ""
				s.add("delivery", took, ok, fmt.Sprint(resp.StatusCode))
				if ok {
					mu.Lock()
					runs = append(runs, out.Run)
					mu.Unlock()
				}
			})
		}
	})
	wg.Go(func() {
		for ctx.Err() == nil {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, tn.s.User+userapi.RunsPath(tn.NS)+"?limit=20", nil)
			req.Header.Set("Authorization", "Bearer "+tn.Token)
			start := time.Now()
			resp, err := bClient.Do(req)
			took := time.Since(start)
			if err != nil {
				s.add("user-api", took, false, "error")
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				s.add("user-api", took, resp.StatusCode == http.StatusOK, fmt.Sprint(resp.StatusCode))
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	wg.Wait()
	return s, runs
}

// bClient is B's HTTP client: from 127.0.0.1, whatever A uses.
var bClient = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 32}}

// clientFrom is a client whose connections come from the local address ip (A's flood
// comes from addresses of its own, as it would from its own machines).
func clientFrom(ip string, timeout time.Duration) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{DialContext: d.DialContext, MaxIdleConnsPerHost: 64}}
}

// awaitRuns waits for runs to finish and returns those that did not succeed.
func (tn *Tenant) awaitRuns(ctx context.Context, runs []string, timeout time.Duration) []string {
	deadline := time.Now().Add(timeout)
	pending := slices.Clone(runs)
	var failed []string
	for len(pending) > 0 && time.Now().Before(deadline) {
		var still []string
		for _, name := range pending {
			run := &aiasv1alpha1.Run{}
			if err := tn.s.Env.Client.Get(ctx, client.ObjectKey{Namespace: tn.NS, Name: name}, run); err != nil {
				still = append(still, name)
				continue
			}
			switch {
			case run.Status.Phase == aiasv1alpha1.RunSucceeded:
			case run.Status.Phase.Finished():
				failed = append(failed, fmt.Sprintf("%s %s: %s", name, run.Status.Phase, run.Status.Message))
			default:
				still = append(still, name)
			}
		}
		pending = still
		if len(pending) > 0 {
			time.Sleep(500 * time.Millisecond)
		}
	}
	for _, name := range pending {
		failed = append(failed, name+" did not finish in time")
	}
	sort.Strings(failed)
	return failed
}

// peakRSS samples the webhookserver's resident memory.
type peakRSS struct {
	mu   sync.Mutex
	peak int64
}

func (p *peakRSS) sample(ctx context.Context, s *Stack) {
	for ctx.Err() == nil {
		if rss, _, err := s.WebhookserverMemory(); err == nil {
			p.mu.Lock()
			p.peak = max(p.peak, rss)
			p.mu.Unlock()
		}
		select {
		case <-ctx.Done():
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *peakRSS) max() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}

// counts tally A's flood by kind and answer.
type counts struct {
	mu sync.Mutex
	m  map[string]map[string]int
}

func newCounts() *counts { return &counts{m: map[string]map[string]int{}} }

func (c *counts) add(kind, answer string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[kind] == nil {
		c.m[kind] = map[string]int{}
	}
	c.m[kind][answer]++
}

func (c *counts) snapshot() map[string]map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[string]int{}
	for k, v := range c.m {
		out[k] = map[string]int{}
		for a, n := range v {
			out[k][a] = n
		}
	}
	return out
}

// Report renders the figures as a Markdown section (BENCHMARKS.md and the test log).
func (f Figures) Report() string {
	var b strings.Builder
	fmt.Fprintf(&b, "| B's requests | alone: n, p50, p99 | with A's flood: n, p50, p99 | p99 ratio |\n|---|---|---|---|\n")
	for _, kind := range []string{"delivery", "user-api"} {
		a, fl := f.Alone[kind], f.Flooded[kind]
		ratio := 0.0
		if a.P99 > 0 {
			ratio = float64(fl.P99) / float64(a.P99)
		}
		fmt.Fprintf(&b, "| %s | %d, %v, %v | %d, %v, %v | %.2f |\n", kind, a.N, a.P50.Round(time.Millisecond/10), a.P99.Round(time.Millisecond/10),
			fl.N, fl.P50.Round(time.Millisecond/10), fl.P99.Round(time.Millisecond/10), ratio)
	}
	fmt.Fprintf(&b, "\nB's Runs: %d followed, %d did not succeed. Webhookserver RSS %.1f MiB after B alone, peak %.1f MiB (chart limit %d MiB). A's Run stored %d of its %d artifact bytes.\n",
		f.RunsChecked, len(f.RunsNotSucceeded), float64(f.RSSAlone)/(1<<20), float64(f.PeakRSS)/(1<<20), MemoryLimit>>20, f.AArtifactBytes, f.ACap)
	fmt.Fprintf(&b, "\nA's flood, by kind and answer:\n\n")
	kinds := make([]string, 0, len(f.Flood))
	for k := range f.Flood {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	for _, k := range kinds {
		answers := make([]string, 0, len(f.Flood[k]))
		for a, n := range f.Flood[k] {
			answers = append(answers, fmt.Sprintf("%s ×%d", a, n))
		}
		sort.Strings(answers)
		fmt.Fprintf(&b, "- %s: %s\n", k, strings.Join(answers, ", "))
	}
	return b.String()
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o644) }
