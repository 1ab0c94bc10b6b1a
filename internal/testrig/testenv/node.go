package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// A real node beside the control plane: containerd (Debian's 1.6) with runc, a kubelet
// and kube-proxy (built by hack/node.sh), a CNI bridge, and a small cluster DNS. Unlike
// the node agent (internal/testrig/nodeagent), which runs step Pods as local processes, this runs
// them in containers from images, under the restricted security context, on a pod network
// that reaches Services through kube-proxy's iptables rules, as on EKS, GKE or AKS.
//
// The pod network is fixed, so that StartWith can name its gateway before the node
// exists (Options.NodeIP): one node, one /24, the bridge's address is the node's.
const (
	NodeName    = "aias-node"
	NodeGateway = "10.244.0.1"
	PodCIDR     = "10.244.0.0/24"
	nodeBridge  = "aias0"
	// nodeDir is fixed, not a fresh temporary directory, so a run killed before it could
	// clean up (SIGKILL, a lost machine) is cleaned up by the next StartNode.
	nodeDir = "/run/aias-node"
	// NodeVersion is the kubelet and kube-proxy version hack/node.sh builds; keep in step.
	NodeVersion = "1.34.4"
	// ClusterDomain is the kubelet's cluster domain, which the cluster DNS answers.
	ClusterDomain = "cluster.local"
)

// Node is a running node; Stop stops it and removes what it left behind.
type Node struct {
	dir        string
	containerd *component
	kubelet    *component
	kubeProxy  *component
	dns        *clusterDNS
	assets     string
}

// NodeAssetsDir is where hack/node.sh put kubelet and kube-proxy: AIAS_NODE_ASSETS when
// set (make test sets it), else the script's default cache.
func NodeAssetsDir() (string, error) {
	dir := os.Getenv("AIAS_NODE_ASSETS")
	if dir == "" {
		cache, err := CacheDir()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(cache, "node", "k8s-"+NodeVersion)
	}
	for _, bin := range []string{"kubelet", "kube-proxy"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("node binaries missing in %s: run `make node` (or set AIAS_NODE_ASSETS): %w", dir, err)
		}
	}
	for _, cmd := range []string{"containerd", "ctr", "runc", "iptables", "ip"} {
		if _, err := exec.LookPath(cmd); err != nil {
			return "", fmt.Errorf("%s missing: run `make node`, which installs the Debian packages: %w", cmd, err)
		}
	}
	return dir, nil
}

// NodeOptions choose what StartNode imports.
type NodeOptions struct {
	// ImageArchive is a docker-save tarball (ociimage.WriteArchive) imported into
	// containerd before the kubelet starts; it must hold SandboxImage.
	ImageArchive string
	// SandboxImage is the pause image containerd starts for every pod.
	SandboxImage string
}

// StartNode starts a node registered with e's apiserver, which must have been started
// with Options.NodeIP = NodeGateway, and waits until the Node is Ready and untainted.
// Only root can run it. e.Stop stops it too (Ctrl-C included).
func (e *Env) StartNode(ctx context.Context, o NodeOptions) (n *Node, err error) {
	if os.Geteuid() != 0 {
		return nil, errors.New("a real node needs root (containerd, iptables, mounts)")
	}
	assets, err := NodeAssetsDir()
	if err != nil {
		return nil, err
	}
	cleanupNode(assets) // what a killed run left
	if err := os.MkdirAll(nodeDir, 0o755); err != nil {
		return nil, err
	}
	n = &Node{dir: nodeDir, assets: assets}
	defer func() {
		if err != nil {
			n.Stop()
		}
	}()
	if err := hostNetwork(); err != nil {
		return nil, err
	}
	if err := e.nodeCredentials(ctx, n.dir); err != nil {
		return nil, err
	}
	if n.containerd, err = startContainerd(ctx, n.dir, o); err != nil {
		return nil, err
	}
	if n.dns, err = startClusterDNS(e.Client, NodeGateway+":53"); err != nil {
		return nil, err
	}
	if n.kubeProxy, err = startKubeProxy(assets, n.dir); err != nil {
		return nil, err
	}
	if n.kubelet, err = startKubelet(assets, n.dir); err != nil {
		return nil, err
	}
	if err := n.waitReady(ctx, e.Client); err != nil {
		return nil, err
	}
	e.nodes = append(e.nodes, n)
	return n, nil
}

// KubeletLog is the kubelet's log, for failure messages.
func (n *Node) KubeletLog() string { return n.kubelet.log }

// KubeletDir is the kubelet's --root-dir: plugins (the step runtime's CSI driver) find
// it at this path.
func (n *Node) KubeletDir() string { return filepath.Join(n.dir, "kubelet") }

// PodLogs is the directory the kubelet writes container logs under
// (<namespace>_<pod>_<uid>/<container>/<n>.log), readable without the kubelet API.
func (n *Node) PodLogs() string { return filepath.Join(n.dir, "pod-logs") }

// Logs is the end of every component's log, for a failing test.
func (n *Node) Logs(lines int) string {
	var b strings.Builder
	for _, c := range []*component{n.containerd, n.kubeProxy, n.kubelet} {
		if c != nil {
			fmt.Fprintf(&b, "--- %s (%s)\n%s\n", c.name, c.log, TailFile(c.log, lines))
		}
	}
	return b.String()
}

// Stop stops the kubelet, kube-proxy, every container and containerd, then removes the
// mounts, iptables rules, network namespaces and the bridge they left. Safe to repeat.
func (n *Node) Stop() {
	if n == nil {
		return
	}
	var cs []*component
	for _, c := range []*component{n.kubeProxy, n.kubelet} {
		if c != nil {
			cs = append(cs, c)
		}
	}
	stopComponents(cs)
	n.kubelet, n.kubeProxy = nil, nil
	if n.dns != nil {
		n.dns.Close()
		n.dns = nil
	}
	if n.containerd != nil {
		killContainers(n.dir)
		stopComponents([]*component{n.containerd})
		n.containerd = nil
	}
	cleanupNode(n.assets)
}

// waitReady waits for the Node to report Ready and the node-lifecycle controller to lift
// its not-ready taint, so Pods schedule.
func (n *Node) waitReady(ctx context.Context, c client.Client) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last string
	for {
		if err := exited([]*component{n.containerd, n.kubelet, n.kubeProxy}); err != nil {
			return err
		}
		node := &corev1.Node{}
		if err := c.Get(ctx, client.ObjectKey{Name: NodeName}, node); err == nil {
			last = nodeState(node)
			if last == "" {
				return nil
			}
		} else {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s not ready: %s\n%s", NodeName, last, n.Logs(30))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// nodeState is why node cannot take Pods yet, or "" when it can.
func nodeState(node *corev1.Node) string {
	ready := ""
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			ready = string(cond.Status)
			if cond.Status != corev1.ConditionTrue {
				return fmt.Sprintf("Ready=%s: %s", cond.Status, cond.Message)
			}
		}
	}
	if ready == "" {
		return "no Ready condition yet"
	}
	for _, t := range node.Spec.Taints {
		if t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute {
			return "tainted " + t.Key
		}
	}
	return ""
}

// nodeCredentials writes kubeconfigs for the kubelet (user system:node:<name> in group
// system:nodes) and kube-proxy (system:kube-proxy), bound to the ClusterRoles kubeadm
// binds them to. envtest authorizes with RBAC only (no Node authorizer), so the kubelet
// gets the system:node ClusterRole as kubeadm's clusters did before the Node authorizer.
func (e *Env) nodeCredentials(ctx context.Context, dir string) error {
	users := []struct {
		user, group, role, file string
	}{
		{"system:node:" + NodeName, "system:nodes", "system:node", "kubelet.kubeconfig"},
		{"system:kube-proxy", "", "system:node-proxier", "kube-proxy.kubeconfig"},
	}
	for _, u := range users {
		var groups []string
		if u.group != "" {
			groups = []string{u.group}
		}
		au, err := e.AddUser(envtest.User{Name: u.user, Groups: groups}, nil)
		if err != nil {
			return err
		}
		kc, err := au.KubeConfig()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, u.file), kc, 0o600); err != nil {
			return err
		}
		crb := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: "aias-test-" + strings.ReplaceAll(u.role, ":", "-")},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: u.role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: "User", Name: u.user}},
		}
		if err := e.Client.Create(ctx, crb); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	return nil
}
