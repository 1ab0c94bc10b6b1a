package controllers

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Run and step metrics. Reconcile errors and durations per controller come from
// controller-runtime itself (controller_runtime_reconcile_errors_total{controller="run"}).
var (
	runsFinished = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aias_runs_finished_total",
		Help: "Runs that reached a final phase, by phase.",
	}, []string{"phase"})
	runDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "aias_run_duration_seconds",
		Help:    "Time from a Run's start to its final phase, by phase.",
		Buckets: prometheus.ExponentialBuckets(0.5, 2, 16), // 0.5s … ~4.5h
	}, []string{"phase"})
	stepDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "aias_step_attempt_duration_seconds",
		Help:    "Duration of step attempts, by outcome (Succeeded or Failed).",
		Buckets: prometheus.ExponentialBuckets(0.25, 2, 16),
	}, []string{"outcome"})
)

// runGauges reports how many Runs are in each phase and how many wait in each
// Workflow's queue, counted from the informer cache at scrape time so the figures can
// never drift from what `kubectl get runs` shows.
type runGauges struct {
	cache client.Reader
}

var (
	runsDesc       = prometheus.NewDesc("aias_runs", "Runs that exist, by phase.", []string{"phase"}, nil)
	queueDepthDesc = prometheus.NewDesc("aias_run_queue_depth", "Runs waiting in phase Queued, by namespace and workflow.", []string{"namespace", "workflow"}, nil)
)

func (g *runGauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- runsDesc
	ch <- queueDepthDesc
}

func (g *runGauges) Collect(ch chan<- prometheus.Metric) {
	gaugesMu.Lock()
	cache := g.cache
	gaugesMu.Unlock()
	var runs aiasv1alpha1.RunList
	// Read-only pass over the cache: skip the deep copy of every Run.
	if err := cache.List(context.Background(), &runs, client.UnsafeDisableDeepCopy); err != nil {
		return
	}
	byPhase := map[aiasv1alpha1.RunPhase]int{}
	type wf struct{ ns, name string }
	queued := map[wf]int{}
	for i := range runs.Items {
		r := &runs.Items[i]
		phase := r.Status.Phase
		if phase == "" {
			phase = aiasv1alpha1.RunPending
		}
		byPhase[phase]++
		if phase == aiasv1alpha1.RunQueued {
			queued[wf{r.Namespace, r.Spec.WorkflowRef.Name}]++
		}
	}
	for _, p := range []aiasv1alpha1.RunPhase{aiasv1alpha1.RunPending, aiasv1alpha1.RunQueued, aiasv1alpha1.RunRunning, aiasv1alpha1.RunWaiting,
		aiasv1alpha1.RunSucceeded, aiasv1alpha1.RunFailed, aiasv1alpha1.RunCanceled, aiasv1alpha1.RunRejected} {
		ch <- prometheus.MustNewConstMetric(runsDesc, prometheus.GaugeValue, float64(byPhase[p]), string(p))
	}
	for k, n := range queued {
		ch <- prometheus.MustNewConstMetric(queueDepthDesc, prometheus.GaugeValue, float64(n), k.ns, k.name)
	}
}

var (
	registerMetricsOnce sync.Once
	gauges              = &runGauges{}
	gaugesMu            sync.Mutex
)

// registerRunMetrics adds the run metrics to controller-runtime's registry, which the
// manager's secured metrics endpoint serves. Registration happens once per process; the
// gauges read the cache of the latest manager (tests start many).
func registerRunMetrics(cache client.Reader) {
	gaugesMu.Lock()
	gauges.cache = cache
	gaugesMu.Unlock()
	registerMetricsOnce.Do(func() {
		metrics.Registry.MustRegister(runsFinished, runDuration, stepDuration, gauges, tenantUsage)
	})
}
