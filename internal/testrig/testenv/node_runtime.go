package testenv

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"
)

// hostNetwork creates the pod network's bridge with the gateway address (before the
// first pod, so the apiserver's advertised address, the cluster DNS and PostgreSQL's
// forwarder can listen on it) and turns on what kube-proxy's rules rely on: forwarding,
// and bridged traffic passing iptables (a reply from a pod to a pod that reached it
// through a Service must be un-NATed).
func hostNetwork() error {
	for path, v := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                 "1",
		"/proc/sys/net/bridge/bridge-nf-call-iptables":  "1",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables": "1",
	} {
		if err := os.WriteFile(path, []byte(v), 0o644); err != nil {
			return fmt.Errorf("setting %s (br_netfilter loaded?): %w", path, err)
		}
	}
	if err := run("ip", "link", "add", nodeBridge, "type", "bridge"); err != nil {
		return err
	}
	if err := run("ip", "addr", "add", NodeGateway+"/24", "dev", nodeBridge); err != nil {
		return err
	}
	return run("ip", "link", "set", nodeBridge, "up")
}

// cniConfig is the bridge network every pod joins: host-local addresses from PodCIDR,
// the bridge as gateway, hairpin so a pod reaches itself through its Service, and
// portmap for hostPort.
const cniConfig = `{
  "cniVersion": "0.4.0",
  "name": "aias",
  "plugins": [
    {"type": "bridge", "bridge": "%s", "isGateway": true, "ipMasq": true, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "%s", "gateway": "%s"}]], "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "%s"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
`

// containerdConfig: its own root, state and socket under dir, so the machine's own
// containerd (if any) is untouched; CRI with the cgroupfs driver (the kubelet's), the
// imported sandbox image, and the CNI plugins of Debian's containernetworking-plugins.
// restrict_oom_score_adj: this machine kind's root lacks CAP_SYS_RESOURCE, so runc cannot
// lower a container's oom_score_adj below its own (the kubelet asks -998 for sandboxes,
// -997 for Guaranteed pods) and would fail every pod; containerd then clamps the value to
// its own, as it does for rootless setups.
const containerdConfig = `version = 2
root = "%[1]s/containerd/root"
state = "%[1]s/containerd/state"
[grpc]
  address = "%[1]s/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "%[2]s"
  enable_selinux = false
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "%[1]s/cni"
`

func startContainerd(ctx context.Context, dir string, o NodeOptions) (*component, error) {
	if err := os.MkdirAll(filepath.Join(dir, "cni"), 0o755); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(cniConfig, nodeBridge, PodCIDR, NodeGateway, filepath.Join(dir, "cni-ipam"))
	if err := os.WriteFile(filepath.Join(dir, "cni", "10-aias.conflist"), []byte(conf), 0o644); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "containerd.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(containerdConfig, dir, o.SandboxImage)), 0o644); err != nil {
		return nil, err
	}
	bin, err := exec.LookPath("containerd")
	if err != nil {
		return nil, err
	}
	c, err := startComponent(bin, "containerd", dir, []string{"--config", cfg})
	if err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "containerd.sock")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := exited([]*component{c}); err != nil {
			return c, err
		}
		if exec.CommandContext(ctx, "ctr", "-a", sock, "version").Run() == nil {
			break
		}
		if time.Now().After(deadline) {
			return c, fmt.Errorf("containerd did not answer on %s:\n%s", sock, TailFile(c.log, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
	if o.ImageArchive != "" {
		// k8s.io is the namespace the CRI plugin serves images from.
		out, err := exec.CommandContext(ctx, "ctr", "-a", sock, "-n", "k8s.io", "images", "import", "--no-unpack=false", o.ImageArchive).CombinedOutput()
		if err != nil {
			return c, fmt.Errorf("importing %s: %v: %s", o.ImageArchive, err, out)
		}
	}
	return c, nil
}

// kubeletConfig: webhook authentication and authorization of its own API (as every
// managed cluster's), the cgroupfs driver of this cgroup v1 machine, the cluster DNS on
// the gateway, and eviction and image-GC thresholds low enough that a busy test disk
// neither evicts the test's Pods nor deletes its imported images (they cannot be pulled
// again).
const kubeletConfig = `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
authorization: {mode: Webhook}
cgroupDriver: cgroupfs
containerRuntimeEndpoint: unix://%[1]s/containerd.sock
clusterDomain: %[2]s
clusterDNS: [%[3]s]
failSwapOn: false
failCgroupV1: false
podLogsDir: %[1]s/pod-logs
resolvConf: %[1]s/resolv.conf
staticPodPath: ""
serializeImagePulls: false
evictionHard: {memory.available: "50Mi", nodefs.available: "1%%", imagefs.available: "1%%", nodefs.inodesFree: "1%%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
healthzPort: 0
port: 10250
readOnlyPort: 0
syncFrequency: 10s
fileCheckFrequency: 10s
nodeStatusUpdateFrequency: 2s
nodeStatusReportFrequency: 10s
`

func startKubelet(assets, dir string) (*component, error) {
	// Pods resolve through the cluster DNS only; the host's resolvers are unreachable
	// from the pod network and nothing in a test looks up outside names.
	if err := os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte("nameserver "+NodeGateway+"\n"), 0o644); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, "kubelet.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(kubeletConfig, dir, ClusterDomain, NodeGateway)), 0o644); err != nil {
		return nil, err
	}
	return startComponent(filepath.Join(assets, "kubelet"), "kubelet", dir, []string{
		"--config=" + cfg,
		"--kubeconfig=" + filepath.Join(dir, "kubelet.kubeconfig"),
		"--hostname-override=" + NodeName,
		"--node-ip=" + NodeGateway,
		"--root-dir=" + filepath.Join(dir, "kubelet"), // Node.KubeletDir
		"--cert-dir=" + filepath.Join(dir, "kubelet-pki"),
		"--v=1",
	})
}

// kubeProxyConfig: iptables mode, as most managed clusters run it. The conntrack limits
// are left as the machine has them (0: do not write the sysctls).
const kubeProxyConfig = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clientConnection: {kubeconfig: %q}
hostnameOverride: %s
clusterCIDR: %s
bindAddress: %s
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0}
iptables: {syncPeriod: 5s, minSyncPeriod: 0s}
`

func startKubeProxy(assets, dir string) (*component, error) {
	cfg := filepath.Join(dir, "kube-proxy.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(kubeProxyConfig, filepath.Join(dir, "kube-proxy.kubeconfig"), NodeName, PodCIDR, NodeGateway)), 0o644); err != nil {
		return nil, err
	}
	return startComponent(filepath.Join(assets, "kube-proxy"), "kube-proxy", dir, []string{"--config=" + cfg, "--v=1"})
}

// killContainers stops every pod's containers through containerd while it still runs:
// the kubelet is gone by then, and the containers' shims are not containerd's children.
func killContainers(dir string) {
	sock := filepath.Join(dir, "containerd.sock")
	out, err := exec.Command("ctr", "-a", sock, "-n", "k8s.io", "tasks", "list", "-q").Output()
	if err != nil {
		return
	}
	ids := strings.Fields(string(out))
	for _, id := range ids {
		_ = exec.Command("ctr", "-a", sock, "-n", "k8s.io", "tasks", "kill", "-s", "SIGKILL", id).Run()
	}
	for _, id := range ids {
		_ = exec.Command("ctr", "-a", sock, "-n", "k8s.io", "tasks", "delete", "-f", id).Run()
	}
}

// cleanupNode removes what a node leaves on the machine, whether it stopped in order or
// its test was killed: shims and their containers, mounts under the node directory, the
// pods' network namespaces, kube-proxy's iptables rules, the bridge, and the directory.
func cleanupNode(assets string) {
	killShims()
	killKubepods()
	unmountUnder(nodeDir)
	unmountUnder("/run/netns/cni-")
	if assets != "" {
		_ = exec.Command(filepath.Join(assets, "kube-proxy"), "--cleanup").Run()
	}
	_ = exec.Command("ip", "link", "delete", nodeBridge).Run()
	// The bridge plugin adds a masquerade chain per pod (ipMasq); the kubelet its canary
	// and firewall chains. kube-proxy's own are gone with --cleanup above.
	removeChains("CNI-", "KUBE-")
	_ = os.RemoveAll(nodeDir)
}

// killShims kills the containerd shims of our containerd (their -address names our
// socket) and so every container under them.
func killShims() {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil || !strings.Contains(string(b), nodeDir+"/containerd.sock") {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(filepath.Base(filepath.Dir(p)), "%d", &pid); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	// Containers are in the shims' process groups only loosely; their cgroups hold them all.
	time.Sleep(200 * time.Millisecond)
}

// killKubepods kills every process left in the kubelet's pod cgroups (a container whose
// shim died lives on, reparented) and removes the cgroups, deepest first.
func killKubepods() {
	roots, _ := filepath.Glob("/sys/fs/cgroup/*/kubepods")
	for _, root := range roots {
		var dirs []string
		_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for _, dir := range dirs {
			b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
			for _, f := range strings.Fields(string(b)) {
				var pid int
				if _, err := fmt.Sscanf(f, "%d", &pid); err == nil {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
		sort.Sort(sort.Reverse(sort.StringSlice(dirs)))
		for _, dir := range dirs {
			_ = syscall.Rmdir(dir)
		}
	}
}

// unmountUnder lazily unmounts every mount point starting with prefix, deepest first.
func unmountUnder(prefix string) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return
	}
	defer f.Close()
	var points []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && strings.HasPrefix(fields[4], prefix) {
			points = append(points, fields[4])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(points)))
	for _, p := range points {
		_ = syscall.Unmount(p, syscall.MNT_DETACH)
		if strings.HasPrefix(p, "/run/netns/") {
			_ = os.Remove(p)
		}
	}
}

// removeChains removes the iptables chains whose names start with one of prefixes, in
// every table, with the rules that jump to them: the kubelet's (KUBE-FIREWALL,
// KUBE-KUBELET-CANARY, KUBE-IPTABLES-HINT) and the CNI plugins' (CNI-*), which
// `kube-proxy --cleanup` leaves. Each table is saved, filtered and restored whole, so
// rules with quoted comments need no parsing.
func removeChains(prefixes ...string) {
	ours := func(chain string) bool {
		return slices.ContainsFunc(prefixes, func(p string) bool { return strings.HasPrefix(chain, p) })
	}
	for _, table := range []string{"filter", "nat", "mangle"} {
		out, err := exec.Command("iptables-save", "-t", table).Output()
		if err != nil {
			continue
		}
		var kept []string
		changed := false
		for _, l := range strings.Split(string(out), "\n") {
			// Drop a chain's declaration (":NAME policy [counters]"), the rules in it
			// ("-A NAME ...") and the rules that jump to it ("... -j NAME").
			f := strings.Fields(l)
			jump := slices.Index(f, "-j")
			if len(f) >= 1 && strings.HasPrefix(f[0], ":") && ours(f[0][1:]) ||
				len(f) >= 2 && f[0] == "-A" && (ours(f[1]) || jump >= 0 && jump+1 < len(f) && ours(f[jump+1])) {
				changed = true
				continue
			}
			kept = append(kept, l)
		}
		if changed {
			restore := exec.Command("iptables-restore")
			restore.Stdin = strings.NewReader(strings.Join(kept, "\n"))
			_ = restore.Run()
		}
	}
}

func run(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
	return nil
}
