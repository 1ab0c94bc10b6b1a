// Package nodeagent plays the kubelet of one Node where there is none (the envtest
// control plane of the tests, `aias dev`, `make bench`): it registers the Node, keeps its
// Lease and Ready condition fresh, and runs the Pods that kube-scheduler binds to it as
// local processes with the same command, env and shared directories, writing their
// status as a kubelet does. It is for tests and local development only, never for
// production: it isolates nothing.
//
// What a Pod becomes here:
//   - each emptyDir volume is a directory under the pod's directory
//     (WorkRoot/<namespace>_<name>_<uid>), and a command element, argument, env value or
//     workingDir that is a container's mountPath or lies under it is rewritten to that
//     directory;
//   - command[0] found in Binaries (an image path such as stepjob.StepImageBinary) runs the
//     agent's copy of the mapped local file instead;
//   - init containers run one after another, then all containers at once, each in its own
//     process group with stdout and stderr in WorkRoot/.../logs/<container>.{stdout,stderr};
//   - run as root, the agent runs each process as the container's effective runAsUser and
//     runAsGroup (the container's securityContext over the pod's) with the pod's
//     supplementalGroups and fsGroup; otherwise everything runs as the agent's user;
//   - env, envFrom (Secrets and ConfigMaps, read when the container starts) and the
//     downward API fields metadata.name, namespace, uid, labels and annotations,
//     spec.nodeName and serviceAccountName, status.hostIP(s) and podIP(s) (127.0.0.1);
//   - activeDeadlineSeconds, deletion with its grace period (capped by MaxGracePeriod) and
//     the final deletion with grace period 0 that lets the Pod object go;
//   - the pod directory is removed when the Pod ends (kept for failed Pods with KeepFailed);
//   - a Pod that was Running under an earlier agent, whose processes died with it, fails
//     as NodeAgentRestarted; Kill ends a Pod's processes as an OOM kill would;
//   - Instant runs nothing and gives every Pod the status writes of one that succeeded.
//
// Pod status is written as the kubelet writes it (see status.go): two writes for a Pod
// that runs, Running and then Succeeded or Failed (and a Pending one each time a container
// waits on a different missing Secret, ConfigMap or key: CreateContainerConfigError).
//
// Not emulated: images (command is required; nothing is pulled, Image only names the
// container), resources and limits (the Node offers plenty and nothing is enforced),
// probes and lifecycle hooks, restarts (restartPolicy other than Never, and sidecar init
// containers, fail the Pod), volumes other than emptyDir (including the projected
// service-account token: Pods need automountServiceAccountToken: false), networking (no
// pod network, ports, hostNetwork or service links: every process shares this machine's
// network), the rest of securityContext (capabilities, seccomp, read-only root), and
// `kubectl logs`/`exec` (nothing listens on the daemon endpoint).
package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/ptr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/aias-dev/aias/internal/steprun"
)

// Defaults of the Agent's fields.
const (
	DefaultNodeName       = "aias-dev-node"
	DefaultMaxGracePeriod = 2 * time.Second
	// DefaultQPS and DefaultBurst are the kubelet's own client limits (kubeAPIQPS 50,
	// kubeAPIBurst 100).
	DefaultQPS   = 50
	DefaultBurst = 100
)

// Pod status reasons the agent writes beyond the kubelet's own.
const (
	// ReasonRestarted: the Pod was Running under an earlier agent that is gone, and so
	// are its processes.
	ReasonRestarted = "NodeAgentRestarted"
	// ReasonUnsupported: the Pod uses something the agent cannot emulate (a volume other
	// than emptyDir, no command, restartPolicy other than Never, ...).
	ReasonUnsupported = "NodeAgentUnsupported"
	// ReasonAgentError: the agent could not set the Pod up (its directory, say).
	ReasonAgentError = "NodeAgentError"
	// ReasonDeadlineExceeded and MessageDeadlineExceeded are the kubelet's for a Pod past
	// its activeDeadlineSeconds.
	ReasonDeadlineExceeded  = "DeadlineExceeded"
	MessageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
)

// Agent is the kubelet of one Node. Set the fields (only Config is required), then call
// Run (it blocks until its context ends), or add it to a controller-runtime manager
// (mgr.Add: it is a manager.Runnable that runs without leader election). It uses a
// client and a Pod informer of its own, never a manager's cache.
type Agent struct {
	// Config reaches the apiserver; the agent's client is a copy with QPS and Burst
	// (and the user agent aias-nodeagent/<node> unless Config names one).
	Config *rest.Config
	// NodeName is the Node to register or adopt; default DefaultNodeName.
	NodeName string
	// WorkRoot holds one directory per running pod and the copies of Binaries (in
	// .bin); default os.TempDir()/aias-nodeagent. Run as root with Pods that set
	// runAsUser, every directory above it must be searchable by that user.
	WorkRoot string
	// Binaries maps image paths to local files, e.g. stepjob.StepImageBinary ("/aias-step")
	// to the locally built step runtime. Matched exactly against command[0] after $(VAR)
	// expansion. Each file is copied into WorkRoot with mode 0755 when the agent starts,
	// so any user can run it and rebuilding the original does not disturb running Pods.
	Binaries map[string]string
	// ExtraEnv ("NAME=value") goes into every process's environment before the
	// container's own env, which wins on conflicts. Nil means PATH and HOME from this
	// process's environment (HOME becomes the container's directory for a process run
	// as another user); an empty non-nil slice means nothing.
	ExtraEnv []string
	// KeepFailed keeps the pod directory (volumes and logs) of a failed Pod for
	// inspection, and names it in the Pod's status message.
	KeepFailed bool
	// MaxGracePeriod caps the time between SIGTERM and SIGKILL, whatever the Pod's
	// terminationGracePeriodSeconds or deletion grace period say, so that tests do not
	// wait 30 s; default DefaultMaxGracePeriod.
	MaxGracePeriod time.Duration
	// Instant runs nothing: each Pod bound to the Node gets the two status writes of a
	// Pod that ran (Running, then Succeeded with exit code 0) at once. For benchmarks:
	// the engine's own cost shows without process start-up.
	Instant bool
	// QPS and Burst limit the agent's client; default DefaultQPS and DefaultBurst.
	QPS   float32
	Burst int
	// Log receives a line per Pod start and end and per problem, never process output;
	// default: controller-runtime's logger named "nodeagent".
	Log logr.Logger

	client     kubernetes.Interface
	binaries   map[string]string // image path → the agent's copy
	switchUser bool              // root: processes can run as runAsUser
	closedBy   string            // a directory above WorkRoot that other users cannot search
	informer   cache.SharedIndexInformer
	queue      workqueue.TypedRateLimitingInterface[string]
	node       *corev1.Node          // as last written
	lease      *coordinationv1.Lease // the Node's Lease as last written
	writes     writeCounters         // see Writes

	initOnce  sync.Once
	ready     chan struct{} // closed when the Node is schedulable and Pods are watched
	done      chan struct{} // closed when Start returns
	started   atomic.Bool
	base      context.Context // parent of every pod; canceled on shutdown
	cancelAll context.CancelCauseFunc

	mu        sync.Mutex
	stopping  bool
	stopStart context.CancelFunc   // ends a running Start
	pods      map[types.UID]*pod   // running here
	names     map[string]types.UID // namespace/name → the running pod of that name
	finished  map[types.UID]bool   // terminal status written here: never run again
	wg        sync.WaitGroup       // one per pod goroutine
}

// Causes of a pod's context ending.
var (
	errDeleted         = errors.New("pod deleted")
	errGone            = errors.New("pod object gone")
	errReplaced        = errors.New("pod replaced by another of the same name")
	errFinishedByOther = errors.New("pod made terminal by someone else")
	errDeadline        = errors.New("pod active deadline exceeded")
	errShutdown        = errors.New("node agent stopping")
)

// workers sync Pods concurrently; a sync is short (processes run in goroutines of
// their own) except in Instant mode, where it makes both status writes.
const workers = 8

func (a *Agent) lazyInit() {
	a.initOnce.Do(func() {
		a.ready = make(chan struct{})
		a.done = make(chan struct{})
		a.base, a.cancelAll = context.WithCancelCause(context.Background())
		a.pods = map[types.UID]*pod{}
		a.names = map[string]types.UID{}
		a.finished = map[types.UID]bool{}
	})
}

// Ready is closed once the Node is registered, Ready and free of the not-ready taint,
// and the agent watches the Pods bound to it.
func (a *Agent) Ready() <-chan struct{} {
	a.lazyInit()
	return a.ready
}

// NeedLeaderElection implements manager.LeaderElectionRunnable: a node's kubelet runs
// whoever leads.
func (a *Agent) NeedLeaderElection() bool { return false }

// Start implements manager.Runnable: it registers the Node, runs the Pods bound to it
// until ctx ends, then stops every process (SIGTERM, then SIGKILL after MaxGracePeriod)
// and waits for them. Pods keep the status they had; a later agent marks Running ones
// NodeAgentRestarted. It returns an error only when it cannot start.
func (a *Agent) Start(ctx context.Context) error {
	a.lazyInit()
	if !a.started.CompareAndSwap(false, true) {
		return errors.New("nodeagent: Start called twice")
	}
	defer close(a.done)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	a.mu.Lock()
	if a.stopping {
		a.mu.Unlock()
		return nil
	}
	a.stopStart = cancel
	a.mu.Unlock()
	defer a.shutdown()

	if err := a.setup(); err != nil {
		return err
	}
	if err := a.registerNode(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("nodeagent: registering node %s: %w", a.NodeName, err)
	}
	defer a.cordon() // once the Pod loops end, before the processes are stopped
	a.informer = a.newInformer()
	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{})
	var loops sync.WaitGroup
	defer loops.Wait()
	defer a.queue.ShutDown()
	defer cancel()
	loops.Go(func() { a.informer.RunWithContext(ctx) })
	if !cache.WaitForCacheSync(ctx.Done(), a.informer.HasSynced) {
		return nil // ctx ended
	}
	for range workers {
		loops.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	loops.Go(func() { a.heartbeat(ctx) })
	close(a.ready)
	a.Log.Info("node agent ready", "instant", a.Instant, "workRoot", a.WorkRoot, "switchUser", a.switchUser)
	<-ctx.Done()
	return nil
}

// Run is Start, for use without a manager: it blocks until ctx ends.
func (a *Agent) Run(ctx context.Context) error { return a.Start(ctx) }

// Stop ends Start, if it runs, and kills every process (SIGTERM, then SIGKILL after
// MaxGracePeriod), waiting for all of them. Calling it again, before Start, or after
// Start returned is safe; after it, Start returns at once.
func (a *Agent) Stop() {
	a.lazyInit()
	a.mu.Lock()
	a.stopping = true
	cancel := a.stopStart
	a.mu.Unlock()
	if cancel != nil {
		cancel()
		<-a.done
	}
	a.shutdown()
}

// shutdown stops every pod without writing status and waits for their goroutines:
// SIGTERM, then SIGKILL after MaxGracePeriod.
func (a *Agent) shutdown() {
	a.mu.Lock()
	a.stopping = true // no pod registers from now on
	pods := make([]*pod, 0, len(a.pods))
	for _, p := range a.pods {
		pods = append(pods, p)
	}
	a.mu.Unlock()
	// Ending the base context alone would leave each pod the grace of one nobody asked
	// to stop, which is unbounded: a process that outlives SIGTERM (step-run retrying
	// its uploads for minutes) would hold the shutdown until it gave up.
	for _, p := range pods {
		p.stop(errShutdown, a.MaxGracePeriod)
	}
	a.cancelAll(errShutdown)
	a.wg.Wait()
}

// setup applies the defaults and prepares the client and WorkRoot.
func (a *Agent) setup() error {
	if a.Config == nil {
		return errors.New("nodeagent: Config is required")
	}
	if a.NodeName == "" {
		a.NodeName = DefaultNodeName
	}
	if a.MaxGracePeriod <= 0 {
		a.MaxGracePeriod = DefaultMaxGracePeriod
	}
	if a.QPS <= 0 {
		a.QPS = DefaultQPS
	}
	if a.Burst <= 0 {
		a.Burst = DefaultBurst
	}
	if a.Log.GetSink() == nil {
		a.Log = ctrllog.Log.WithName("nodeagent")
	}
	a.Log = a.Log.WithValues("node", a.NodeName)
	cfg := rest.CopyConfig(a.Config)
	cfg.QPS, cfg.Burst, cfg.RateLimiter = a.QPS, a.Burst, nil
	// Protobuf, as the kubelet talks: Pods are large, and JSON costs the apiserver and the
	// agent several times the CPU for every watch event and status write.
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	if cfg.UserAgent == "" { // a caller's own (a benchmark attributing writes) wins
		cfg.UserAgent = "aias-nodeagent/" + a.NodeName
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	a.client = client
	if a.ExtraEnv == nil {
		for _, name := range []string{"PATH", "HOME"} {
			if v, ok := os.LookupEnv(name); ok {
				a.ExtraEnv = append(a.ExtraEnv, name+"="+v)
			}
		}
	}
	if a.Instant {
		return nil // runs nothing, needs no directories
	}
	if a.WorkRoot == "" {
		a.WorkRoot = filepath.Join(os.TempDir(), "aias-nodeagent")
	}
	// Absolute, because processes run in other working directories.
	if a.WorkRoot, err = filepath.Abs(a.WorkRoot); err != nil {
		return err
	}
	a.switchUser = canSwitchUser()
	if err := mkdirMode(a.WorkRoot, 0o755); err != nil {
		return err
	}
	if a.switchUser {
		for dir := filepath.Dir(a.WorkRoot); a.closedBy == ""; dir = filepath.Dir(dir) {
			if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o001 == 0 {
				a.closedBy = fmt.Sprintf("%s (mode %s)", dir, fi.Mode())
				a.Log.Info("Pods that run as another user will be refused: a directory above WorkRoot is not searchable by others",
					"workRoot", a.WorkRoot, "directory", a.closedBy)
			}
			if dir == filepath.Dir(dir) {
				break
			}
		}
	}
	return a.copyBinaries()
}

// copyBinaries copies each of Binaries into WorkRoot/.bin with mode 0755.
func (a *Agent) copyBinaries() error {
	a.binaries = map[string]string{}
	if len(a.Binaries) == 0 {
		return nil
	}
	dir := filepath.Join(a.WorkRoot, ".bin")
	if err := mkdirMode(dir, 0o755); err != nil {
		return err
	}
	images := make([]string, 0, len(a.Binaries))
	for image := range a.Binaries {
		images = append(images, image)
	}
	sort.Strings(images)
	for i, image := range images {
		dst := filepath.Join(dir, fmt.Sprintf("%d-%s", i, filepath.Base(a.Binaries[image])))
		if err := steprun.CopyFile(a.Binaries[image], dst, 0o755); err != nil {
			return fmt.Errorf("nodeagent: copying the binary for %s: %w", image, err)
		}
		a.binaries[image] = dst
	}
	return nil
}

// mkdirMode creates dir with exactly mode, whatever the umask.
func mkdirMode(dir string, mode os.FileMode) error {
	if err := os.MkdirAll(dir, mode); err != nil {
		return err
	}
	return os.Chmod(dir, mode)
}

// newInformer watches the Pods bound to the Node, and only those.
func (a *Agent) newInformer() cache.SharedIndexInformer {
	lw := cache.NewListWatchFromClient(a.client.CoreV1().RESTClient(), "pods", metav1.NamespaceAll,
		fields.OneTermEqualSelector("spec.nodeName", a.NodeName))
	inf := cache.NewSharedIndexInformer(lw, &corev1.Pod{}, 0, cache.Indexers{})
	_ = inf.SetTransform(func(obj any) (any, error) {
		if m, ok := obj.(metav1.Object); ok {
			m.SetManagedFields(nil) // never read, and most of a small Pod's size
		}
		return obj, nil
	})
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(key)
		}
	}
	_, _ = inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	})
	return inf
}

func (a *Agent) processNext(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	if err := a.sync(ctx, key); err != nil {
		if ctx.Err() == nil {
			a.Log.Error(err, "syncing pod", "pod", key)
		}
		a.queue.AddRateLimited(key)
		return true
	}
	a.queue.Forget(key)
	return true
}

// sync brings the Pod's local processes in line with the Pod: start them, stop them,
// finish its deletion, or record that it can no longer finish.
func (a *Agent) sync(ctx context.Context, key string) error {
	obj, exists, err := a.informer.GetIndexer().GetByKey(key)
	if err != nil {
		return err
	}
	if !exists {
		a.stopName(key, "", errGone, a.MaxGracePeriod)
		return nil
	}
	pod := obj.(*corev1.Pod)
	// A Pod recreated under the same name is another Pod: the old one's processes go.
	a.stopName(key, pod.UID, errReplaced, a.MaxGracePeriod)

	a.mu.Lock()
	p, finished := a.pods[pod.UID], a.finished[pod.UID]
	a.mu.Unlock()
	switch {
	case pod.DeletionTimestamp != nil:
		if p != nil {
			// Its goroutine stops the processes, writes the final status and comes back
			// here (see finish) to delete the Pod.
			p.stop(errDeleted, a.gracePeriod(pod))
			return nil
		}
		return a.deletePod(ctx, pod)
	case isTerminal(pod):
		if p != nil {
			p.stop(errFinishedByOther, a.gracePeriod(pod))
		}
		return nil
	case p != nil:
		p.setDeadline(pod.Spec.ActiveDeadlineSeconds, a.gracePeriod(pod))
		return nil
	case finished:
		return nil // written already; the cache has not caught up yet
	case pod.Status.Phase == corev1.PodRunning:
		return a.markRestarted(pod)
	case a.Instant:
		return a.runInstantly(ctx, pod)
	}
	return a.start(pod)
}

// gracePeriod is how long the Pod's processes get between SIGTERM and SIGKILL: the
// deletion's grace period, else terminationGracePeriodSeconds, capped by MaxGracePeriod.
func (a *Agent) gracePeriod(pod *corev1.Pod) time.Duration {
	secs := ptr.Deref(pod.DeletionGracePeriodSeconds, ptr.Deref(pod.Spec.TerminationGracePeriodSeconds, corev1.DefaultTerminationGracePeriodSeconds))
	return min(time.Duration(secs)*time.Second, a.MaxGracePeriod)
}

func isTerminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

// start launches the Pod's processes, or fails a Pod the agent cannot run.
func (a *Agent) start(pod *corev1.Pod) error {
	plan, err := newPodPlan(pod.DeepCopy(), a.WorkRoot, a.NodeName, a.switchUser)
	if err == nil && a.closedBy != "" && plan.switchesUser() {
		err = unsupported("the Pod runs as another user, who cannot reach the node agent's WorkRoot %s: %s is not searchable by others", a.WorkRoot, a.closedBy)
	}
	var unsup *unsupportedError
	if errors.As(err, &unsup) {
		return a.reject(pod, unsup.message)
	} else if err != nil {
		return err
	}
	p := a.register(plan)
	if p == nil {
		return nil // stopping
	}
	a.Log.Info("starting pod", "pod", p.key, "uid", pod.UID, "dir", plan.dir)
	go a.runPod(p)
	return nil
}

// register records a pod about to run, or returns nil when the agent is stopping.
func (a *Agent) register(plan *podPlan) *pod {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.stopping {
		return nil
	}
	p := newPod(a.base, plan, a.gracePeriod(plan.pod))
	a.pods[p.uid] = p
	a.names[p.key] = p.uid
	a.wg.Add(1)
	return p
}

// forget removes a pod whose processes are gone; finished says its terminal status was
// written, so that it never runs again here.
func (a *Agent) forget(p *pod, finished bool) {
	a.mu.Lock()
	delete(a.pods, p.uid)
	if a.names[p.key] == p.uid {
		delete(a.names, p.key)
	}
	if finished {
		a.finished[p.uid] = true
	}
	a.mu.Unlock()
}

// markFinished records that the Pod's terminal status is written.
func (a *Agent) markFinished(uid types.UID) {
	a.mu.Lock()
	a.finished[uid] = true
	a.mu.Unlock()
}

// pruneFinished forgets the finished Pods that are gone from the cache.
func (a *Agent) pruneFinished() {
	live := map[types.UID]bool{}
	for _, obj := range a.informer.GetStore().List() {
		live[obj.(*corev1.Pod).UID] = true
	}
	a.mu.Lock()
	for uid := range a.finished {
		if !live[uid] {
			delete(a.finished, uid)
		}
	}
	a.mu.Unlock()
}

// stopName stops the pod running under key unless it is the Pod keep.
func (a *Agent) stopName(key string, keep types.UID, cause error, grace time.Duration) {
	a.mu.Lock()
	uid, ok := a.names[key]
	p := a.pods[uid]
	a.mu.Unlock()
	if ok && uid != keep && p != nil {
		p.stop(cause, grace)
	}
}

// Kill sends SIGKILL to the running processes of the Pod, as an OOM kill or a crash
// would: the containers end with exit code 137 and the Pod fails as it would then.
func (a *Agent) Kill(namespace, name string) error {
	a.lazyInit()
	key := namespace + "/" + name
	a.mu.Lock()
	p := a.pods[a.names[key]]
	a.mu.Unlock()
	if p == nil {
		return fmt.Errorf("nodeagent: pod %s is not running on node %s", key, a.NodeName)
	}
	if !p.kill() {
		return fmt.Errorf("nodeagent: pod %s has no running process", key)
	}
	a.Log.Info("killed the pod's processes", "pod", key)
	return nil
}

// Writes are the apiserver writes the agent made, for a benchmark to attribute them to
// "the kubelet".
type Writes struct {
	PodStatus        int64 // Pod status writes the apiserver accepted
	PodStatusRefused int64 // Pod status writes it refused as invalid (a bug: tests expect none)
	PodDeletes       int64 // final Pod deletions (grace period 0)
	Node             int64 // Node creates and updates (status heartbeats, taint removal)
	Lease            int64 // Lease creates and renewals
}

type writeCounters struct {
	podStatus, podStatusRefused, podDeletes, node, lease atomic.Int64
}

// Writes returns the counts so far.
func (a *Agent) Writes() Writes {
	return Writes{
		PodStatus:        a.writes.podStatus.Load(),
		PodStatusRefused: a.writes.podStatusRefused.Load(),
		PodDeletes:       a.writes.podDeletes.Load(),
		Node:             a.writes.node.Load(),
		Lease:            a.writes.lease.Load(),
	}
}
