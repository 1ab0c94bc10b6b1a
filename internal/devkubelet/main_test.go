package devkubelet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/testenv"
)

// One control plane for the package; each test runs its own manager and dev kubelet,
// limited to a namespace of its own, so tests cannot see each other's Jobs.
var env *testenv.Env

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	ctrl.SetLogger(logr.Discard()) // each test's manager logs to its own testing.T
	var err error
	if env, err = testenv.Start(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer func() { _ = env.Stop() }()
	return m.Run()
}

// testKubelet is a dev kubelet on a manager of its own, stopped when the test ends.
type testKubelet struct {
	*Kubelet
	stop func() // stops the manager and waits for it and every process
}

// startKubelet runs a dev kubelet for ns with WorkRoot in the test's temp dir. Every
// status write the apiserver refuses for another reason than a conflict fails the test.
func startKubelet(t *testing.T, ns string, configure func(*Kubelet)) *testKubelet {
	t.Helper()
	mgr, err := ctrl.NewManager(env.Config, ctrl.Options{
		Scheme:                 scheme.Scheme,
		Logger:                 testr.New(t),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{ns: {}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	k := &Kubelet{
		Client:      statusGuard{Client: mgr.GetClient(), t: t},
		WorkRoot:    t.TempDir(),
		Namespaces:  []string{ns},
		GracePeriod: time.Second,
		Log:         testr.New(t),
	}
	if configure != nil {
		configure(k)
	}
	if err := k.SetupWithManager(mgr); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- mgr.Start(ctx) }()
	var once sync.Once
	tk := &testKubelet{Kubelet: k}
	tk.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-errc; err != nil {
				t.Errorf("manager: %v", err)
			}
			k.Stop()
		})
	}
	t.Cleanup(tk.stop)
	return tk
}

// statusGuard fails the test when the apiserver refuses a status write for another
// reason than a conflict (retried) or a deleted Job.
type statusGuard struct {
	client.Client
	t *testing.T
}

func (c statusGuard) Status() client.SubResourceWriter {
	return guardedWriter{SubResourceWriter: c.Client.Status(), t: c.t}
}

type guardedWriter struct {
	client.SubResourceWriter
	t *testing.T
}

func (w guardedWriter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	return w.check(ctx, obj, w.SubResourceWriter.Update(ctx, obj, opts...))
}

func (w guardedWriter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	return w.check(ctx, obj, w.SubResourceWriter.Patch(ctx, obj, patch, opts...))
}

func (w guardedWriter) check(ctx context.Context, obj client.Object, err error) error {
	if err != nil && !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) && ctx.Err() == nil {
		w.t.Errorf("apiserver refused the status of Job %s: %v", client.ObjectKeyFromObject(obj), err)
	}
	return err
}

func newNamespace(t *testing.T) string {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "devkubelet-"}}
	if err := env.Client.Create(context.Background(), ns); err != nil {
		t.Fatal(err)
	}
	return ns.Name
}

// newJob is a step-like Job whose one container runs `sh -c script`. Scripts say
// "$$$$" for the shell's "$$": Kubernetes turns "$$" in a command into "$".
func newJob(ns, name, script string) *batchv1.Job {
	labels := map[string]string{aiasv1alpha1.LabelRun: "run-1", aiasv1alpha1.LabelStep: "s"}
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: labels},
		Spec: batchv1.JobSpec{
			BackoffLimit: ptr.To[int32](0),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers: []corev1.Container{{
						Name:    stepjob.StepContainer,
						Image:   "example.invalid/step",
						Command: []string{"sh", "-c", script},
					}},
				},
			},
		},
	}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

// waitJob polls the Job until ok accepts it, and returns it.
func waitJob(t *testing.T, job *batchv1.Job, timeout time.Duration, what string, ok func(*batchv1.Job) bool) *batchv1.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	got := &batchv1.Job{}
	for {
		err := env.Client.Get(context.Background(), client.ObjectKeyFromObject(job), got)
		if err == nil && ok(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("Job %s: not %s after %v (err %v); status: %+v", job.Name, what, timeout, err, got.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func cond(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t && j.Status.Conditions[i].Status == corev1.ConditionTrue {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

func waitFinished(t *testing.T, job *batchv1.Job, timeout time.Duration) *batchv1.Job {
	t.Helper()
	return waitJob(t, job, timeout, "finished", isFinished)
}

// assertFailed checks the whole failed status, as the Run controller and kubectl read it.
func assertFailed(t *testing.T, j *batchv1.Job, reason, msgPart string) {
	t.Helper()
	failed, target := cond(j, batchv1.JobFailed), cond(j, batchv1.JobFailureTarget)
	if failed == nil || target == nil {
		t.Fatalf("want Failed and FailureTarget, got conditions %+v", j.Status.Conditions)
	}
	if failed.Reason != reason || !strings.Contains(failed.Message, msgPart) {
		t.Errorf("Failed condition = %s: %q, want %s containing %q", failed.Reason, failed.Message, reason, msgPart)
	}
	if cond(j, batchv1.JobComplete) != nil || j.Status.Failed != 1 || j.Status.Active != 0 ||
		j.Status.StartTime == nil || j.Status.CompletionTime != nil {
		t.Errorf("inconsistent failed status: %+v", j.Status)
	}
}

// readPIDs waits for a pidfile with whitespace-separated PIDs and returns them.
func readPIDs(t *testing.T, file string, want int) []int {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		raw, _ := os.ReadFile(file)
		fields := strings.Fields(string(raw))
		if len(fields) >= want {
			var pids []int
			for _, f := range fields {
				pid, err := strconv.Atoi(f)
				if err != nil {
					t.Fatalf("pidfile %s: %v", file, err)
				}
				pids = append(pids, pid)
			}
			return pids
		}
		if time.Now().After(deadline) {
			t.Fatalf("pidfile %s: want %d PIDs, have %q", file, want, raw)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// alive says whether pid runs. A zombie counts as dead: a process killed with its group
// is reparented to PID 1, which may take its time to reap it.
func alive(pid int) bool {
	if raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(raw, ')'); i >= 0 && i+2 < len(raw) {
			return raw[i+2] != 'Z'
		}
	}
	return !errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func waitGone(t *testing.T, timeout time.Duration, pids ...int) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still alive after %v", pid, timeout)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// waitEmpty waits for dir to hold nothing: finished pods clean up after their status write.
func waitEmpty(t *testing.T, dir string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still holds %v", dir, entries[0].Name())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func podDirOf(k *Kubelet, j *batchv1.Job) string { return podDir(k.WorkRoot, j) }

func volumeDir(k *Kubelet, j *batchv1.Job, volume string) string {
	return filepath.Join(podDirOf(k, j), "volumes", volume)
}
