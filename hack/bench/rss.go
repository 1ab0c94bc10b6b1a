package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// The manager's memory with many finished Runs in the cluster: the real `aias manager`
// binary against a fresh control plane holding rssRuns Succeeded Runs.
// rssRuns finished Runs in the manager RSS phase (-rss-runs; the figure is 10,000).
var rssRuns = 10000

const (
	rssFinalizer  = aiasv1alpha1.RunFinalizer
	rssSettle     = 5 * time.Second
	rssReconciled = 5 * time.Minute
)

type rssResult struct {
	label          string
	rssKiB, hwmKiB int64
	took           time.Duration // from process start until every Run was reconciled
	failed         string        // why the manager exited before it had reconciled them
}

// managerRSS measures the manager twice: with rssRuns finished Runs, then with their
// completed step Jobs and their Pods as well. runTmpl, jobTmpl and podTmpl are a real
// finished 1-step Run, its Job and its Pod from the throughput phase, copied so the
// objects have the true shape.
func managerRSS(ctx context.Context, bin, dbURL, keyFile, tmp string, runTmpl *aiasv1alpha1.Run, jobTmpl *batchv1.Job, podTmpl *corev1.Pod) ([]rssResult, error) {
	env, err := testenv.Start()
	if err != nil {
		return nil, err
	}
	defer func() { _ = env.Stop() }()
	admin, err := env.AddUser(envtest.User{Name: "bench", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return nil, err
	}
	kc, err := admin.KubeConfig()
	if err != nil {
		return nil, err
	}
	kubeconfig := filepath.Join(tmp, "kubeconfig")
	if err := os.WriteFile(kubeconfig, kc, 0o600); err != nil {
		return nil, err
	}
	cl, err := newCluster(env)
	if err != nil {
		return nil, err
	}
	const ns = "bench-rss"
	if err := cl.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		return nil, err
	}
	workflows := make([]string, max(rssWorkflows, 1))
	for i := range workflows {
		workflows[i] = runTmpl.Spec.WorkflowRef.Name
		if i > 0 {
			workflows[i] += fmt.Sprintf("-%d", i)
		}
		if err := cl.c.Create(ctx, benchWorkflow(ns, workflows[i], 1)); err != nil {
			return nil, err
		}
	}

	start := time.Now()
	uids := make([]types.UID, rssRuns)
	if err := parallel(rssRuns, engineCreators, func(i int) error {
		run := finishedRun(runTmpl, ns, workflows[i%len(workflows)], i)
		status := run.Status
		if err := cl.c.Create(ctx, run); err != nil {
			return err
		}
		uids[i] = run.UID
		run.Status = status
		return cl.c.Status().Update(ctx, run)
	}); err != nil {
		return nil, fmt.Errorf("creating finished Runs: %w", err)
	}
	logf("created %d finished Runs in %v", rssRuns, time.Since(start).Round(time.Second))

	var results []rssResult
	r, err := measureManager(ctx, bin, kubeconfig, dbURL, keyFile, filepath.Join(tmp, "manager-runs.log"))
	if err != nil {
		return nil, err
	}
	r.label = fmt.Sprintf("%d finished Runs of %s in the cluster", rssRuns, plural(len(workflows), "Workflow"))
	results = append(results, r)
	logf("manager RSS, %s: VmRSS %d KiB, VmHWM %d KiB, reconciled in %v", r.label, r.rssKiB, r.hwmKiB, r.took.Round(time.Millisecond))
	if r.failed != "" {
		return results, nil // with Jobs as well it would fail the same way
	}

	start = time.Now()
	if err := parallel(rssRuns, engineCreators, func(i int) error {
		job := finishedJob(jobTmpl, runTmpl.Name, ns, fmt.Sprintf("run-%05d", i), uids[i])
		status := job.Status
		if err := cl.c.Create(ctx, job); err != nil {
			return err
		}
		job.Status = status
		if err := cl.c.Status().Update(ctx, job); err != nil {
			return err
		}
		pod := finishedPod(podTmpl, job)
		podStatus := pod.Status
		if err := cl.c.Create(ctx, pod); err != nil {
			return err
		}
		pod.Status = podStatus
		return cl.c.Status().Update(ctx, pod)
	}); err != nil {
		return nil, fmt.Errorf("creating completed Jobs and Pods: %w", err)
	}
	logf("created %d completed Jobs and their Pods in %v", rssRuns, time.Since(start).Round(time.Second))
	r, err = measureManager(ctx, bin, kubeconfig, dbURL, keyFile, filepath.Join(tmp, "manager-jobs.log"))
	if err != nil {
		return nil, err
	}
	r.label = fmt.Sprintf("%d finished Runs of %s and their %d completed step Jobs and Pods in the cluster", rssRuns, plural(len(workflows), "Workflow"), rssRuns)
	results = append(results, r)
	logf("manager RSS, %s: VmRSS %d KiB, VmHWM %d KiB, reconciled in %v", r.label, r.rssKiB, r.hwmKiB, r.took.Round(time.Millisecond))
	return results, nil
}

// finishedRun is Run i of the RSS cluster: the template's spec and status with the
// finalizer on and a result artifact, as step-run would have reported one.
func finishedRun(tmpl *aiasv1alpha1.Run, ns, workflow string, i int) *aiasv1alpha1.Run {
	run := benchRun(ns, workflow, i)
	run.Finalizers = []string{rssFinalizer}
	run.Status = *tmpl.Status.DeepCopy()
	const digest = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"
	for j := range run.Status.Steps {
		st := &run.Status.Steps[j]
		st.JobName = strings.Replace(st.JobName, tmpl.Name, run.Name, 1)
		if st.OutputDigest == "" {
			st.OutputDigest = digest
		}
	}
	if len(run.Status.Artifacts) == 0 {
		for _, st := range run.Status.Steps {
			run.Status.Artifacts = append(run.Status.Artifacts, aiasv1alpha1.ArtifactStatus{
				Step: st.Name, Name: "result", Digest: digest, Size: 42, ContentType: "application/json"})
		}
	}
	return run
}

// finishedPod is the template Pod made the Pod of job (as the Run controller makes it),
// unbound and gated: no node agent runs in this cluster, a Pod bound to a missing Node
// would be collected, and the gate keeps the scheduler from writing to it meanwhile.
func finishedPod(tmpl *corev1.Pod, job *batchv1.Job) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: job.Name, Namespace: job.Namespace, Labels: job.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
		},
		Spec:   *tmpl.Spec.DeepCopy(),
		Status: *tmpl.Status.DeepCopy(),
	}
	pod.Spec.NodeName = ""
	pod.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "aias.dev/bench-rss"}}
	pod.Spec.Containers = job.Spec.Template.Spec.Containers
	return pod
}

// finishedJob is the template Job re-pointed at another Run: name, labels, owner, env.
func finishedJob(tmpl *batchv1.Job, tmplRun, ns, run string, uid types.UID) *batchv1.Job {
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name: strings.Replace(tmpl.Name, tmplRun, run, 1), Namespace: ns,
			Labels: map[string]string{}, Annotations: tmpl.Annotations,
		},
		Spec:   *tmpl.Spec.DeepCopy(),
		Status: *tmpl.Status.DeepCopy(),
	}
	for _, ref := range tmpl.OwnerReferences {
		ref.Name, ref.UID = run, uid
		job.OwnerReferences = append(job.OwnerReferences, ref)
	}
	// The apiserver generates the selector and its labels anew for every Job.
	job.Spec.Selector = nil
	relabel := func(from map[string]string) map[string]string {
		to := map[string]string{}
		for k, v := range from {
			if strings.Contains(k, "controller-uid") || strings.HasSuffix(k, "job-name") {
				continue
			}
			to[k] = v
		}
		to[aiasv1alpha1.LabelRun], to[aiasv1alpha1.LabelRunUID] = run, string(uid)
		return to
	}
	job.Labels = relabel(tmpl.Labels)
	job.Spec.Template.Labels = relabel(tmpl.Spec.Template.Labels)
	for i := range job.Spec.Template.Spec.Containers {
		c := &job.Spec.Template.Spec.Containers[i]
		for j := range c.Env {
			e := &c.Env[j]
			e.Value = strings.ReplaceAll(e.Value, tmplRun, run)
			if e.Value == tmpl.Namespace {
				e.Value = ns
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				e.ValueFrom.SecretKeyRef.Name = strings.Replace(e.ValueFrom.SecretKeyRef.Name, tmplRun, run, 1)
			}
		}
	}
	return job
}

// measureManager starts `aias manager`, waits until the run controller has reconciled
// every Run (controller_runtime_reconcile_total ≥ rssRuns) and the run and workflow
// work queues are empty, lets it settle, reads its memory and stops it with SIGTERM.
// A manager that exits before that is a result too: failed says why, hwmKiB is the
// peak seen while it ran.
func measureManager(ctx context.Context, bin, kubeconfig, dbURL, keyFile, logPath string) (rssResult, error) {
	var res rssResult
	metricsAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	probeAddr, err := freeAddr()
	if err != nil {
		return res, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return res, err
	}
	defer logFile.Close()
	cmd := exec.CommandContext(ctx, bin, "manager",
		"--metrics-bind-address="+metricsAddr, "--metrics-secure=false", "--health-probe-bind-address="+probeAddr,
		"--database-url="+dbURL, "--step-token-key-file="+keyFile)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return res, err
	}
	pid := cmd.Process.Pid
	exited := goExit(cmd.Wait)
	stop := func() error {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited.done:
			return exited.err
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited.done
			return errors.New("manager did not stop within 30 s of SIGTERM; killed")
		}
	}
	logTail := func() string {
		raw, _ := os.ReadFile(logPath)
		return string(raw[max(0, len(raw)-3000):])
	}

	httpc := &http.Client{Timeout: 5 * time.Second}
	get := func(url string) ([]byte, int, error) {
		resp, err := httpc.Get(url)
		if err != nil {
			return nil, 0, err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		return body, resp.StatusCode, err
	}
	state := "not ready"
	err = waitFor(ctx, exited, rssReconciled, "the manager to reconcile every Run", func() (bool, error) {
		res.hwmKiB = max(res.hwmKiB, procStatusKiB(pid, "VmHWM"))
		if _, code, err := get("http://" + probeAddr + "/readyz"); err != nil || code != http.StatusOK {
			return false, err
		}
		body, _, err := get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return false, err
		}
		reconciles, depth := 0.0, 0.0
		for _, s := range parseSamples(body, "controller_runtime_reconcile_total") {
			if s.labels["controller"] == "run" {
				reconciles += s.value
			}
		}
		for _, s := range parseSamples(body, "workqueue_depth") {
			if s.labels["name"] == "run" || s.labels["name"] == "workflow" {
				depth += s.value
			}
		}
		state = fmt.Sprintf("%.0f run reconciles, queue depth %.0f", reconciles, depth)
		return reconciles >= float64(rssRuns) && depth == 0, nil
	})
	res.took = time.Since(start)
	if err != nil {
		select {
		case <-exited.done:
			res.failed = fmt.Sprintf("exited after %.0f s (%v): %s", res.took.Seconds(), exited.err, lastLine(logTail()))
			logf("manager %s\n%s", res.failed, logTail())
			return res, nil
		default:
		}
		_ = stop()
		return res, fmt.Errorf("%w (%s); manager log:\n%s", err, state, logTail())
	}
	time.Sleep(rssSettle)
	res.rssKiB = procStatusKiB(pid, "VmRSS")
	res.hwmKiB = procStatusKiB(pid, "VmHWM")
	if err := stop(); err != nil {
		return res, fmt.Errorf("stopping the manager: %v; log:\n%s", err, logTail())
	}
	if res.rssKiB == 0 {
		return res, fmt.Errorf("manager exited before its memory was read; log:\n%s", logTail())
	}
	return res, nil
}

// rssWorkflows spreads the RSS phase's Runs over this many Workflows (-rss-workflows).
var rssWorkflows = 1

func plural(n int, what string) string {
	if n == 1 {
		return "one " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

// freeAddr returns a localhost address with a port nothing listens on right now.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// procStatusKiB reads a "kB" field (VmRSS, VmHWM) of /proc/<pid>/status; 0 when the
// process is gone.
func procStatusKiB(pid int, field string) int64 {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			var kib int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kib)
			return kib
		}
	}
	return 0
}
