// Package devkubelet stands in for the kubelet and the Job controller where neither
// exists (envtest, `aias dev`): it watches step Jobs and runs their pod's containers as
// local processes with the same command, env and shared directories, then writes the Job
// status a real Job controller would. It is for tests and local development only; it
// isolates nothing and runs every process as the current user.
//
// What a pod becomes here:
//   - each emptyDir volume is a directory under the pod's directory (WorkRoot/<ns>_<job>_<uid>),
//     and a command element, argument, env value or workingDir that is a container's
//     mountPath or lies under it is rewritten to that directory;
//   - command[0] found in Binaries (an image path such as stepjob.ImageBinary) runs the
//     mapped local file instead;
//   - init containers run one after another, then all containers run concurrently, each in
//     its own process group with stdout and stderr in WorkRoot/.../logs/<container>.{stdout,stderr};
//   - the pod directory is removed when the Job ends (kept for failed Jobs with KeepFailed).
//
// What it does not emulate: images, securityContext, resources, probes, lifecycle hooks,
// restarts (backoffLimit and restartPolicy: every Job runs once), completions > 1,
// volumes other than emptyDir, service links.
package devkubelet

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	batchv1 "k8s.io/api/batch/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// DefaultGracePeriod is how long a process group gets between SIGTERM and SIGKILL.
const DefaultGracePeriod = 2 * time.Second

// Kubelet runs step Jobs as local processes. Set the fields (all optional; without
// Binaries every command[0] runs as is), then call SetupWithManager once.
type Kubelet struct {
	// Client writes Job status; default: the manager's client.
	Client client.Client
	// APIReader reads Jobs right before a status write and the Secrets and ConfigMaps
	// that env refers to, bypassing the cache: a stale Job would make a status write
	// conflict or repeat, and watching every Secret to read one is wasteful.
	// Default: the manager's API reader.
	APIReader client.Reader
	// Binaries maps image paths to local files, e.g. stepjob.ImageBinary ("/aias") to the
	// locally built aias binary. Matched exactly against command[0] after $(VAR) expansion.
	Binaries map[string]string
	// WorkRoot holds one directory per running pod; default os.TempDir()/aias-devkubelet.
	WorkRoot string
	// ExtraEnv ("NAME=value") goes into every process's environment before the
	// container's own env, which wins on conflicts. Nil means PATH and HOME from this
	// process's environment; an empty non-nil slice means nothing.
	ExtraEnv []string
	// Namespaces limits the Jobs run to these namespaces; empty means all.
	Namespaces []string
	// KeepFailed keeps the pod directory (volumes and logs) of a failed Job for
	// inspection, and names it in the Failed condition's message.
	KeepFailed bool
	// GracePeriod between SIGTERM and SIGKILL; default DefaultGracePeriod.
	GracePeriod time.Duration
	// Log receives a line per Job start and end and per problem, never process output;
	// default: the manager's logger named "devkubelet".
	Log logr.Logger
	// Instant completes every Job at once with one status write and runs nothing
	// (see instant.go). For benchmarks only: the run engine's own cost shows without
	// process start-up, and nothing is recorded in the AIAS store.
	Instant bool

	mu        sync.Mutex
	stopping  bool
	pods      map[types.UID]*pod                 // started and not yet forgotten
	names     map[types.NamespacedName]types.UID // the running Job of each name
	done      map[types.UID]bool                 // ran to an end here: never start again
	suspended map[types.UID]bool                 // stopped by spec.suspend: run again on resume
	wg        sync.WaitGroup                     // one per pod goroutine
	base      context.Context                    // parent of every pod; canceled by Stop
	cancel    context.CancelCauseFunc
}

// Causes of a pod's context ending; only errDeadline leads to a status write.
var (
	errDeleted         = errors.New("job deleted")
	errSuspended       = errors.New("job suspended")
	errFinishedByOther = errors.New("job finished by someone else")
	errShutdown        = errors.New("dev kubelet stopping")
	errDeadline        = errors.New("job active deadline exceeded")
)

// SetupWithManager registers the Job reconciler and a runnable that, when the manager
// stops, kills every process and waits for it.
func (k *Kubelet) SetupWithManager(mgr ctrl.Manager) error {
	if k.Client == nil {
		k.Client = mgr.GetClient()
	}
	if k.APIReader == nil {
		k.APIReader = mgr.GetAPIReader()
	}
	if k.Log.GetSink() == nil {
		k.Log = mgr.GetLogger().WithName("devkubelet")
	}
	if k.WorkRoot == "" {
		k.WorkRoot = filepath.Join(os.TempDir(), "aias-devkubelet")
	}
	// Absolute, because processes run in other working directories.
	root, err := filepath.Abs(k.WorkRoot)
	if err != nil {
		return err
	}
	k.WorkRoot = root
	if k.ExtraEnv == nil {
		for _, name := range []string{"PATH", "HOME"} {
			if v, ok := os.LookupEnv(name); ok {
				k.ExtraEnv = append(k.ExtraEnv, name+"="+v)
			}
		}
	}
	if k.GracePeriod <= 0 {
		k.GracePeriod = DefaultGracePeriod
	}
	if err := os.MkdirAll(k.WorkRoot, 0o700); err != nil {
		return err
	}
	k.pods = map[types.UID]*pod{}
	k.names = map[types.NamespacedName]types.UID{}
	k.done = map[types.UID]bool{}
	k.suspended = map[types.UID]bool{}
	k.base, k.cancel = context.WithCancelCause(context.Background())
	if err := mgr.Add(k); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("devkubelet").
		For(&batchv1.Job{}, builder.WithPredicates(predicate.NewPredicateFuncs(k.watches))).
		WithOptions(controller.Options{
			// Tests start a manager with a dev kubelet per test in one process.
			SkipNameValidation: ptr.To(true),
			// Reconciles are short status writes; processes run in their own goroutines.
			MaxConcurrentReconciles: 4,
		}).
		Complete(k)
}

// watches selects step Jobs in the configured namespaces that the built-in Job
// controller would own (managedBy hands a Job to another controller).
func (k *Kubelet) watches(obj client.Object) bool {
	if _, ok := obj.GetLabels()[aiasv1alpha1.LabelRun]; !ok {
		return false
	}
	if len(k.Namespaces) > 0 && !slices.Contains(k.Namespaces, obj.GetNamespace()) {
		return false
	}
	if job, ok := obj.(*batchv1.Job); ok && job.Spec.ManagedBy != nil && *job.Spec.ManagedBy != batchv1.JobControllerName {
		return false
	}
	return true
}

// Start implements manager.Runnable: it waits for the manager to stop, then stops
// every process.
func (k *Kubelet) Start(ctx context.Context) error {
	<-ctx.Done()
	k.Stop()
	return nil
}

// Stop kills every running process (SIGTERM, then SIGKILL after GracePeriod), waits
// for all of them and their pods' cleanup, and refuses to start new ones. Jobs keep the
// status they had; a later dev kubelet marks them DevKubeletRestarted. The manager calls
// it on shutdown; calling it again, or after mgr.Start returned, is safe and makes sure
// nothing is left behind even when the manager's graceful shutdown timed out.
func (k *Kubelet) Stop() {
	k.mu.Lock()
	if k.cancel == nil { // never set up
		k.mu.Unlock()
		return
	}
	k.stopping = true
	k.cancel(errShutdown)
	k.mu.Unlock()
	k.wg.Wait()
}

// Reconcile brings a Job's local process in line with the Job: start it, stop it, or
// record that it can no longer finish.
func (k *Kubelet) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	job := &batchv1.Job{}
	if err := k.Client.Get(ctx, req.NamespacedName, job); err != nil {
		if apierrors.IsNotFound(err) {
			k.stopName(req.NamespacedName, "", errDeleted)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	// A Job recreated under the same name is another Job: the old one's process goes.
	k.stopName(req.NamespacedName, job.UID, errDeleted)

	switch {
	case job.DeletionTimestamp != nil:
		k.stop(job.UID, errDeleted)
		return ctrl.Result{}, nil
	case isFinished(job):
		k.stop(job.UID, errFinishedByOther)
		return ctrl.Result{}, nil
	case ptr.Deref(job.Spec.Suspend, false):
		k.stop(job.UID, errSuspended)
		return ctrl.Result{}, nil
	}
	if k.Instant {
		return ctrl.Result{}, k.completeInstantly(ctx, job)
	}

	k.mu.Lock()
	p, running := k.pods[job.UID]
	done, suspended := k.done[job.UID], k.suspended[job.UID]
	k.mu.Unlock()
	switch {
	case running && p.ctx.Err() != nil:
		// Still being stopped (e.g. suspended and resumed within the grace period):
		// look again once it is gone.
		return ctrl.Result{RequeueAfter: 500 * time.Millisecond}, nil
	case running, done:
		// Running, or ran to its end here and the cache has not caught up yet.
		return ctrl.Result{}, nil
	case suspended && job.Status.StartTime != nil:
		return ctrl.Result{}, k.resume(job)
	case job.Status.StartTime == nil:
		return k.start(ctx, job)
	default:
		return ctrl.Result{}, k.markRestarted(ctx, job)
	}
}

// start records that the Job started, then launches its pod. The start is recorded
// first so that a dev kubelet that dies in between leaves a Job marked as started, which
// its successor then fails, rather than a process nobody knows about.
func (k *Kubelet) start(ctx context.Context, job *batchv1.Job) (ctrl.Result, error) {
	plan, err := newPodPlan(job, k.WorkRoot)
	var specErr *specError
	if errors.As(err, &specErr) {
		k.Log.Info("cannot run job", "job", client.ObjectKeyFromObject(job), "reason", specErr.reason, "message", specErr.message)
		if err := k.writeFailed(ctx, job, specErr.reason, specErr.message); err != nil {
			return ctrl.Result{}, err
		}
		k.mu.Lock()
		k.done[job.UID] = true
		k.mu.Unlock()
		return ctrl.Result{}, nil
	} else if err != nil {
		return ctrl.Result{}, err
	}

	p := k.register(job, plan)
	if p == nil {
		return ctrl.Result{}, nil // stopping, or already registered
	}
	startTime, err := k.writeStarted(ctx, job)
	if err != nil || startTime.IsZero() {
		// Not started: the write failed, or the Job changed under us (started by
		// someone else, suspended, finished, gone). The next reconcile sees what it is now.
		k.unregister(p)
		if err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: time.Second}, nil
	}
	var deadline time.Time
	if s := job.Spec.ActiveDeadlineSeconds; s != nil {
		deadline = startTime.Add(time.Duration(*s) * time.Second)
	}
	k.Log.Info("starting job", "job", p.key, "dir", plan.dir)
	go k.runPod(p, deadline)
	return ctrl.Result{}, nil
}

// resume runs a Job again that this process stopped for spec.suspend. Its status
// still says it started; as Kubernetes restarts the deadline on resume, so do we.
func (k *Kubelet) resume(job *batchv1.Job) error {
	plan, err := newPodPlan(job, k.WorkRoot)
	if err != nil {
		return err // it ran before with the same (immutable) template
	}
	p := k.register(job, plan)
	if p == nil {
		return nil
	}
	var deadline time.Time
	if s := job.Spec.ActiveDeadlineSeconds; s != nil {
		deadline = time.Now().Add(time.Duration(*s) * time.Second)
	}
	k.Log.Info("resuming job", "job", p.key, "dir", plan.dir)
	go k.runPod(p, deadline)
	return nil
}

// markRestarted fails a Job that started but whose process this dev kubelet does not
// have: an earlier dev kubelet ran it and is gone, and so is its process.
func (k *Kubelet) markRestarted(ctx context.Context, job *batchv1.Job) error {
	k.Log.Info("job started by an earlier dev kubelet: marking it failed", "job", client.ObjectKeyFromObject(job))
	if !k.KeepFailed {
		// The earlier process's pod directory, if it left one behind.
		_ = os.RemoveAll(podDir(k.WorkRoot, job))
	}
	if err := k.writeFailed(ctx, job, ReasonRestarted,
		"the dev kubelet that ran this Job stopped before the Job finished; its processes were killed"); err != nil {
		return err
	}
	k.mu.Lock()
	k.done[job.UID] = true
	k.mu.Unlock()
	return nil
}
