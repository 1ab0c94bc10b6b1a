package nodeagent

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// KubeletVersion is the version the Node reports: the control plane's (keep it in step
// with testenv.KubernetesVersion), as a kubelet of the same release would.
const KubeletVersion = "v1.37.2"

// The kubelet's defaults for keeping a Node alive: renew its Lease every 10 s for 40 s,
// post its status (heartbeat times) at least every minute.
const (
	leaseDurationSeconds = 40
	leaseRenewInterval   = 10 * time.Second
	nodeStatusInterval   = time.Minute
	kubeletPort          = 10250 // reported in daemonEndpoints; nothing listens there
)

// capacity is what the Node offers: plenty, so that no benchmark is ever limited by it.
var capacity = corev1.ResourceList{
	corev1.ResourceCPU:              resource.MustParse("64"),
	corev1.ResourceMemory:           resource.MustParse("256Gi"),
	corev1.ResourcePods:             resource.MustParse("10000"),
	corev1.ResourceEphemeralStorage: resource.MustParse("1Ti"),
}

// registerNode registers the Node, or adopts it when it exists (an earlier agent's),
// posts it Ready, lifts the taints that say it is not, and renews its Lease.
func (a *Agent) registerNode(ctx context.Context) error {
	var created bool
	var err error
	for range 3 { // someone else wrote or created the Node meanwhile: read it again
		if created, err = a.ensureNode(ctx); err == nil || !apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err) {
			break
		}
	}
	if err != nil {
		return err
	}
	if created {
		a.Log.Info("registered the node")
	} else {
		a.Log.Info("adopted the existing node")
	}
	return a.renewLease(ctx)
}

// ensureNode creates the Node or posts its status, then makes it schedulable. A new
// Node is tainted not-ready at admission; kube-controller-manager's node-lifecycle
// controller lifts that taint only once it has seen the Node Ready with a fresh Lease,
// up to its 5 s monitor period later. The agent lifts it itself right after posting
// Ready, so that Pods schedule at once; the controller agrees with a Ready Node and does
// not add it back.
func (a *Agent) ensureNode(ctx context.Context) (created bool, err error) {
	nodes := a.client.CoreV1().Nodes()
	node, err := nodes.Get(ctx, a.NodeName, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		node = &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.NodeName}}
		a.schedulable(node)
		node.Status = nodeStatus(node, a.NodeName)
		if node, err = nodes.Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return false, err
		}
		created = true
	case err != nil:
		return false, err
	default:
		node.Status = nodeStatus(node, a.NodeName)
		if node, err = nodes.UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			return false, err
		}
	}
	a.writes.node.Add(1)
	// Other controllers write the new Node too (the TTL controller's annotation, say):
	// on a conflict, read it again and lift the taints from that.
	for attempt := 1; a.schedulable(node); attempt++ {
		updated, err := nodes.Update(ctx, node, metav1.UpdateOptions{})
		if err == nil {
			node = updated
			a.writes.node.Add(1)
			break
		}
		if !apierrors.IsConflict(err) || attempt == 5 {
			return false, err
		}
		if node, err = nodes.Get(ctx, a.NodeName, metav1.GetOptions{}); err != nil {
			return false, err
		}
	}
	a.node = node
	return created, nil
}

// schedulable gives the Node its well-known labels and removes the not-ready and
// unreachable taints; it reports whether anything changed.
func (a *Agent) schedulable(node *corev1.Node) bool {
	changed := false
	for key, value := range map[string]string{
		corev1.LabelHostname:   a.NodeName,
		corev1.LabelOSStable:   runtime.GOOS,
		corev1.LabelArchStable: runtime.GOARCH,
	} {
		if node.Labels[key] != value {
			if node.Labels == nil {
				node.Labels = map[string]string{}
			}
			node.Labels[key], changed = value, true
		}
	}
	n := len(node.Spec.Taints)
	node.Spec.Taints = slices.DeleteFunc(node.Spec.Taints, func(t corev1.Taint) bool {
		return t.Key == corev1.TaintNodeNotReady || t.Key == corev1.TaintNodeUnreachable
	})
	if _, ours := node.Annotations[aiasv1alpha1.AnnotationCordonedByNodeAgent]; ours {
		// An earlier agent cordoned it when it stopped; a cordon someone else made stays.
		delete(node.Annotations, aiasv1alpha1.AnnotationCordonedByNodeAgent)
		node.Spec.Unschedulable, changed = false, true
	}
	return changed || len(node.Spec.Taints) != n
}

// cordon marks the Node unschedulable when the agent stops: a test or `aias dev` that
// stops its agent leaves no Ready-looking Node for the scheduler to send Pods to that
// nobody would run (until the node-lifecycle controller noticed, 50 s later).
func (a *Agent) cordon() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	nodes := a.client.CoreV1().Nodes()
	for range 3 {
		node, err := nodes.Get(ctx, a.NodeName, metav1.GetOptions{})
		if err != nil || node.Spec.Unschedulable {
			return
		}
		if node.Annotations == nil {
			node.Annotations = map[string]string{}
		}
		node.Annotations[aiasv1alpha1.AnnotationCordonedByNodeAgent] = "true"
		node.Spec.Unschedulable = true
		if _, err := nodes.Update(ctx, node, metav1.UpdateOptions{}); !apierrors.IsConflict(err) {
			if err == nil {
				a.writes.node.Add(1)
			}
			return
		}
	}
}

// nodeStatus is the status a healthy kubelet posts: capacity, addresses, system info,
// and Ready with no pressure, every condition's heartbeat now.
func nodeStatus(node *corev1.Node, name string) corev1.NodeStatus {
	s := *node.Status.DeepCopy()
	s.Capacity, s.Allocatable = capacity.DeepCopy(), capacity.DeepCopy()
	s.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: nodeIP}, {Type: corev1.NodeHostName, Address: name}}
	s.DaemonEndpoints = corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: kubeletPort}}
	s.NodeInfo = systemInfo()
	now := metav1.Now()
	for _, c := range []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"},
	} {
		c.LastHeartbeatTime, c.LastTransitionTime = now, now
		i := slices.IndexFunc(s.Conditions, func(o corev1.NodeCondition) bool { return o.Type == c.Type })
		if i < 0 {
			s.Conditions = append(s.Conditions, c)
			continue
		}
		if s.Conditions[i].Status == c.Status {
			c.LastTransitionTime = s.Conditions[i].LastTransitionTime
		}
		s.Conditions[i] = c
	}
	return s
}

// systemInfo describes this machine as a kubelet does, with the agent as the runtime.
func systemInfo() corev1.NodeSystemInfo {
	read := func(path string) string {
		b, _ := os.ReadFile(path)
		return strings.TrimSpace(string(b))
	}
	osImage := runtime.GOOS
	for _, line := range strings.Split(read("/etc/os-release"), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			osImage = strings.Trim(v, `"`)
		}
	}
	return corev1.NodeSystemInfo{
		MachineID:               read("/etc/machine-id"),
		SystemUUID:              read("/sys/class/dmi/id/product_uuid"),
		BootID:                  read("/proc/sys/kernel/random/boot_id"),
		KernelVersion:           read("/proc/sys/kernel/osrelease"),
		OSImage:                 osImage,
		ContainerRuntimeVersion: "aias-nodeagent://" + KubeletVersion,
		KubeletVersion:          KubeletVersion,
		OperatingSystem:         runtime.GOOS,
		Architecture:            runtime.GOARCH,
	}
}

// renewLease renews the Node's Lease in kube-node-lease, creating it when missing, as
// the kubelet's node lease controller does; the Lease is owned by the Node.
func (a *Agent) renewLease(ctx context.Context) error {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	now := metav1.NewMicroTime(time.Now())
	if a.lease != nil {
		l := a.lease.DeepCopy()
		l.Spec.RenewTime = &now
		got, err := leases.Update(ctx, l, metav1.UpdateOptions{})
		if err == nil {
			a.lease = got
			a.writes.lease.Add(1)
			return nil
		}
		if !apierrors.IsConflict(err) && !apierrors.IsNotFound(err) {
			return err
		}
		// Changed or deleted under us: read it afresh.
	}
	l, err := leases.Get(ctx, a.NodeName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		l, err = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: a.NodeName, Namespace: corev1.NamespaceNodeLease}}, nil
	}
	if err != nil {
		return err
	}
	l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: a.node.Name, UID: a.node.UID}}
	l.Spec = coordinationv1.LeaseSpec{HolderIdentity: ptr.To(a.NodeName), LeaseDurationSeconds: ptr.To[int32](leaseDurationSeconds), RenewTime: &now}
	if l.ResourceVersion == "" {
		l, err = leases.Create(ctx, l, metav1.CreateOptions{})
	} else {
		l, err = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	if err != nil {
		return err
	}
	a.lease = l
	a.writes.lease.Add(1)
	return nil
}

// heartbeat keeps the Node alive while the agent runs: the Lease every 10 s, the status
// every minute (re-registering a Node someone deleted).
func (a *Agent) heartbeat(ctx context.Context) {
	lease := time.NewTicker(leaseRenewInterval)
	defer lease.Stop()
	status := time.NewTicker(nodeStatusInterval)
	defer status.Stop()
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-lease.C:
			err = a.renewLease(ctx)
			a.pruneFinished()
		case <-status.C:
			_, err = a.ensureNode(ctx)
		}
		if err != nil && ctx.Err() == nil {
			a.Log.Error(err, "keeping the node alive")
		}
	}
}
