package nodeagent

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/aias-dev/aias/internal/stepjob"
)

// The Node is schedulable (Ready, without the not-ready taint admission gives a new
// Node) within a second of the agent starting, and stays so while the agent runs: the
// Lease is renewed and the node-lifecycle controller, which looks every 5 s, agrees.
func TestNodeStaysReady(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	start := time.Now()
	a := startAgent(t, nil)
	took := time.Since(start)
	node, err := kube.CoreV1().Nodes().Get(ctx, a.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("schedulable %v after Start", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the node became schedulable %v after Start, want within 1s", took)
	}
	checkNode(t, node)
	lease := getLease(t, a.NodeName)
	if ptr.Deref(lease.Spec.HolderIdentity, "") != a.NodeName || ptr.Deref(lease.Spec.LeaseDurationSeconds, 0) != 40 ||
		lease.Spec.RenewTime == nil || len(lease.OwnerReferences) != 1 || lease.OwnerReferences[0].UID != node.UID {
		t.Errorf("lease %+v %+v", lease.ObjectMeta, lease.Spec)
	}

	// Two node-lifecycle monitor periods and one lease renewal later.
	time.Sleep(leaseRenewInterval + 2*time.Second)
	node, err = kube.CoreV1().Nodes().Get(ctx, a.NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	checkNode(t, node)
	if renewed := getLease(t, a.NodeName); !renewed.Spec.RenewTime.After(lease.Spec.RenewTime.Time) {
		t.Errorf("lease not renewed: %v then %v", lease.Spec.RenewTime, renewed.Spec.RenewTime)
	}
	// One Node write is the create; the taint removal is a second, unless
	// kube-controller-manager's node-lifecycle controller lifted the taint first (it
	// does for a Node posted Ready) and the agent, re-reading after a conflict, found
	// nothing left to change. More than that would be a write per heartbeat.
	if w := a.Writes(); w.Lease < 2 || w.Node < 1 || w.Node > 2 {
		t.Errorf("writes %+v: want 1 or 2 node writes (create, taint removal unless the controller lifted it) and at least 2 lease writes", w)
	}
}

// checkNode checks what the agent registers, and that nothing keeps Pods off it.
func checkNode(t *testing.T, node *corev1.Node) {
	t.Helper()
	if len(node.Spec.Taints) != 0 || node.Spec.Unschedulable {
		t.Errorf("node taints %v, unschedulable %v", node.Spec.Taints, node.Spec.Unschedulable)
	}
	conditions := map[corev1.NodeConditionType]corev1.ConditionStatus{}
	for _, c := range node.Status.Conditions {
		conditions[c.Type] = c.Status
		if c.LastHeartbeatTime.IsZero() || c.LastTransitionTime.IsZero() {
			t.Errorf("condition %s without times: %+v", c.Type, c)
		}
	}
	for ct, want := range map[corev1.NodeConditionType]corev1.ConditionStatus{
		corev1.NodeReady: corev1.ConditionTrue, corev1.NodeMemoryPressure: corev1.ConditionFalse,
		corev1.NodeDiskPressure: corev1.ConditionFalse, corev1.NodePIDPressure: corev1.ConditionFalse,
	} {
		if conditions[ct] != want {
			t.Errorf("node condition %s = %q, want %s", ct, conditions[ct], want)
		}
	}
	s := node.Status
	if s.Allocatable.Cpu().Value() != 64 || s.Allocatable.Pods().Value() != 10000 || s.Capacity.Memory().String() != "256Gi" {
		t.Errorf("capacity %v, allocatable %v", s.Capacity, s.Allocatable)
	}
	if i := s.NodeInfo; i.KubeletVersion != "v1.37.2" || i.OperatingSystem != runtime.GOOS || i.Architecture != runtime.GOARCH {
		t.Errorf("node info %+v", i)
	}
	if len(s.Addresses) != 2 || s.Addresses[0] != (corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}) ||
		s.Addresses[1] != (corev1.NodeAddress{Type: corev1.NodeHostName, Address: node.Name}) || s.DaemonEndpoints.KubeletEndpoint.Port == 0 {
		t.Errorf("addresses %v, daemon endpoints %v", s.Addresses, s.DaemonEndpoints)
	}
	if node.Labels[corev1.LabelHostname] != node.Name || node.Labels[corev1.LabelOSStable] != runtime.GOOS {
		t.Errorf("labels %v", node.Labels)
	}
}

func getLease(t *testing.T, name string) *coordinationv1.Lease {
	t.Helper()
	l, err := kube.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Run as root, the agent runs each process as the container's effective runAsUser and
// runAsGroup (the container's over the pod's), with the pod's supplementalGroups and
// fsGroup, and such a process can reach the pod's volumes and the mapped binary, which
// the test keeps in a directory only root can enter.
func TestRunAsUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run processes as other users")
	}
	ns, a := setUp(t, func(a *Agent) { a.Binaries = map[string]string{stepjob.StepImageBinary: fakeAiasStep(t)} })
	results := sharedDir(t)
	result, argv := filepath.Join(results, "result"), filepath.Join(results, "argv")

	pod := makePod(ns, a.NodeName, "users", `{ echo "uid=$(id -u)"; echo "gid=$(id -g)"; echo "groups=$(id -G)"
		echo "init=$(cat "$BY")"; touch "$WORK/mine" && echo "write=ok"; } > "$RESULT" && exec "$RUNNER" step-run`)
	spec := &pod.Spec
	spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To[int64](65532), RunAsGroup: ptr.To[int64](65533),
		SupplementalGroups: []int64{4242}, FSGroup: ptr.To[int64](65534),
	}
	emptyDir := corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}
	spec.Volumes = []corev1.Volume{{Name: stepjob.BinVolume, VolumeSource: emptyDir}, {Name: "work", VolumeSource: emptyDir}}
	mounts := []corev1.VolumeMount{{Name: stepjob.BinVolume, MountPath: stepjob.BinDir}, {Name: "work", MountPath: "/work"}}
	spec.InitContainers = []corev1.Container{{
		Name: stepjob.InstallContainer, Image: "example.invalid/aias",
		Command:         []string{stepjob.StepImageBinary, stepjob.InstallCommand, stepjob.InstallPath},
		VolumeMounts:    []corev1.VolumeMount{{Name: stepjob.BinVolume, MountPath: stepjob.InstallDir}},
		SecurityContext: &corev1.SecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](1001)},
	}}
	main := &spec.Containers[0]
	main.VolumeMounts = mounts
	main.Env = []corev1.EnvVar{{Name: "RESULT", Value: result}, {Name: "ARGV", Value: argv},
		{Name: "WORK", Value: "/work"}, {Name: "RUNNER", Value: stepjob.RunnerPath}, {Name: "BY", Value: stepjob.RunnerPath + ".by"}}
	create(t, pod)

	noUser := makePod(ns, a.NodeName, "no-user", "true")
	noUser.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
	create(t, noUser)

	if got := waitTerminal(t, pod, 20*time.Second); got.Status.Phase != corev1.PodSucceeded {
		t.Fatalf("phase %s: %+v", got.Status.Phase, got.Status)
	}
	lines := readLines(t, result)
	for key, want := range map[string]string{"uid": "65532", "gid": "65533", "init": "1000:1001", "write": "ok"} {
		if lines[key] != want {
			t.Errorf("%s = %q, want %q", key, lines[key], want)
		}
	}
	if groups := strings.Fields(lines["groups"]); !contains(groups, "4242") || !contains(groups, "65534") {
		t.Errorf("groups %q, want 4242 and 65534 among them", lines["groups"])
	}
	if raw, err := os.ReadFile(argv); err != nil || !strings.HasSuffix(string(raw), "step-run\n65532\n65533\n") {
		t.Errorf("the installed runner wrote %q (%v)", raw, err)
	}

	got := waitTerminal(t, noUser, 20*time.Second)
	if got.Status.Reason != ReasonUnsupported || !strings.Contains(got.Status.Message, "runAsNonRoot") {
		t.Errorf("no-user: reason %s, message %q", got.Status.Reason, got.Status.Message)
	}

	// An agent whose WorkRoot such a user cannot reach says so rather than fail to start
	// the processes.
	closed := startAgent(t, func(a *Agent) { a.WorkRoot = filepath.Join(t.TempDir(), "pods") })
	unreachable := makePod(ns, closed.NodeName, "unreachable", "true")
	unreachable.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](65532)}
	create(t, unreachable)
	got = waitTerminal(t, unreachable, 20*time.Second)
	if got.Status.Reason != ReasonUnsupported || !strings.Contains(got.Status.Message, "cannot reach the node agent's WorkRoot") {
		t.Errorf("unreachable: reason %s, message %q", got.Status.Reason, got.Status.Message)
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
