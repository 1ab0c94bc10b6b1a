package devkubelet

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// countingClient counts the status writes that reach the apiserver.
type countingClient struct {
	client.Client
	writes *atomic.Int32
}

func (c countingClient) Status() client.SubResourceWriter {
	return countingWriter{SubResourceWriter: c.Client.Status(), writes: c.writes}
}

type countingWriter struct {
	client.SubResourceWriter
	writes *atomic.Int32
}

func (w countingWriter) Update(ctx context.Context, obj client.Object, opts ...client.SubResourceUpdateOption) error {
	w.writes.Add(1)
	return w.SubResourceWriter.Update(ctx, obj, opts...)
}

func (w countingWriter) Patch(ctx context.Context, obj client.Object, patch client.Patch, opts ...client.SubResourcePatchOption) error {
	w.writes.Add(1)
	return w.SubResourceWriter.Patch(ctx, obj, patch, opts...)
}

// In instant mode a Job completes with one status write that the apiserver accepts,
// nothing runs, no pod directory appears, and a suspended Job is left alone.
func TestInstantCompletesWithoutRunning(t *testing.T) {
	ns := newNamespace(t)
	var writes atomic.Int32
	k := startKubelet(t, ns, func(k *Kubelet) {
		k.Instant = true
		k.Client = countingClient{Client: k.Client, writes: &writes}
	})
	marker := filepath.Join(t.TempDir(), "ran")
	job := newJob(ns, "instant", `touch "$MARKER"`)
	job.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "MARKER", Value: marker}}
	suspended := newJob(ns, "instant-suspended", `touch "$MARKER"`)
	suspended.Spec.Suspend = ptr.To(true)
	create(t, suspended)
	create(t, job)

	got := waitFinished(t, job, 10*time.Second)
	if cond(got, batchv1.JobComplete) == nil || cond(got, batchv1.JobSuccessCriteriaMet) == nil {
		t.Fatalf("want Complete and SuccessCriteriaMet, got %+v", got.Status.Conditions)
	}
	if s := got.Status; s.Succeeded != 1 || s.Active != 0 || s.Failed != 0 || s.StartTime == nil ||
		s.CompletionTime == nil || s.CompletionTime.Before(s.StartTime) {
		t.Errorf("inconsistent complete status: %+v", s)
	}

	// Later reconciles (the status write's own event, a resync) write nothing more.
	time.Sleep(time.Second)
	if n := writes.Load(); n != 1 {
		t.Errorf("status writes = %d, want 1", n)
	}
	again := waitJob(t, job, time.Second, "read", func(*batchv1.Job) bool { return true })
	if again.ResourceVersion != got.ResourceVersion {
		t.Errorf("Job written again after completion: resourceVersion %s -> %s", got.ResourceVersion, again.ResourceVersion)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("the step's command ran (marker %s: %v)", marker, err)
	}
	if entries, _ := os.ReadDir(k.WorkRoot); len(entries) != 0 {
		t.Errorf("instant mode created pod directories: %v", entries)
	}
	s := waitJob(t, suspended, time.Second, "read", func(*batchv1.Job) bool { return true })
	if isFinished(s) || s.Status.StartTime != nil {
		t.Errorf("suspended Job was touched: %+v", s.Status)
	}
}
