// Package realnode installs AIAS the way a platform team does, on a one-node cluster with
// a real kubelet, containerd and runc, kube-proxy and a CNI bridge (testenv.StartNode):
// the AIAS image built here (internal/testrig/ociimage) and imported into containerd, the Helm
// chart installed with the Helm SDK (the manager and webhookserver as its Deployments,
// under their ServiceAccounts, admission on with the certificate the manager generates), PostgreSQL
// reachable from the pods. The tests then drive the whole path in real containers.
//
// The tests use it, and `make bench` measures Runs on it. It needs root and what `make node` prepares (kubelet, kube-proxy, Debian's containerd,
// runc, CNI plugins and busybox-static).
package realnode

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/testrig/ociimage"
	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// The images the cluster imports; none can be pulled. BusyboxImage is the step image.
const (
	aiasImageRepo = "aias.local/aias"
	imageTag      = "e2e"
	aiasImage     = aiasImageRepo + ":" + imageTag
	BusyboxImage  = "aias.local/busybox:" + imageTag
	pauseImage    = "aias.local/pause:" + imageTag

	installNamespace = "aias-system"
	releaseName      = "aias"
	// pgForwardPort is where the node's gateway forwards to the test's PostgreSQL.
	pgForwardPort = "15432"
)

// Cluster is a one-node cluster with AIAS installed by its chart.
type Cluster struct {
	Env        *testenv.Env
	Node       *testenv.Node
	Aias       string // the aias binary in the image, for `aias trigger`
	Kubeconfig string // admin kubeconfig
	dir        string
	teardowns  []func()
	stopOnce   sync.Once
	logf       func(string, ...any)
}

// Start builds the images, starts the control plane and the node, gives the pods a
// database, and installs charts/aias with the Helm SDK. Stop undoes all of it, also
// when Start fails part way (Start then stops what it started).
func Start(ctx context.Context, logf func(string, ...any)) (c *Cluster, err error) {
	c = &Cluster{logf: logf}
	defer func() {
		if err != nil {
			c.Stop()
		}
	}()
	if err := c.start(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop stops everything Start started and removes its files.
func (c *Cluster) Stop() {
	c.stopOnce.Do(func() {
		for i := len(c.teardowns) - 1; i >= 0; i-- {
			c.teardowns[i]()
		}
	})
}

func (c *Cluster) step(format string, a ...any) { c.logf("realnode: "+format, a...) }

func (c *Cluster) start(ctx context.Context) error {
	if os.Geteuid() != 0 {
		return errors.New("a real node needs root (containerd, iptables, mounts)")
	}
	dir, err := os.MkdirTemp("", "aias-realnode-")
	if err != nil {
		return err
	}
	c.dir = dir
	c.teardowns = append(c.teardowns, func() { os.RemoveAll(dir) })

	c.step("building the aias image")
	t0 := time.Now()
	// As the Dockerfile builds them: one build writes bin/aias and bin/aias-step.
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		return err
	}
	c.Aias = filepath.Join(bin, "aias")
	args := append(append(append([]string{"build"}, ociimage.BuildFlags...), "-o", bin+"/"), ociimage.Packages...)
	build := exec.CommandContext(ctx, "go", args...)
	build.Dir, build.Stdout, build.Stderr = testenv.RepoRoot(), os.Stderr, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return fmt.Errorf("building %s: %w", strings.Join(ociimage.Packages, " "), err)
	}
	archive := filepath.Join(dir, "images.tar")
	if err := writeImages(archive, bin); err != nil {
		return err
	}
	c.step("image built in %s", time.Since(t0).Round(time.Millisecond))

	c.step("starting the control plane and the node")
	t0 = time.Now()
	// Ctrl-C or SIGTERM stops everything, node and files included, not only the control
	// plane (testenv's own handler would exit before the rest is cleaned up).
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGINT, syscall.SIGTERM)
	stopSignals := make(chan struct{})
	c.teardowns = append(c.teardowns, func() { signal.Stop(signals); close(stopSignals) })
	go func() {
		select {
		case sig := <-signals:
			c.step("%v received, stopping the cluster", sig)
			c.Stop()
			os.Exit(1)
		case <-stopSignals:
		}
	}()
	env, err := testenv.StartWith(testenv.Options{NodeIP: testenv.NodeGateway, NoSignalHandler: true})
	if err != nil {
		return err
	}
	c.Env = env
	c.teardowns = append(c.teardowns, func() { _ = env.Stop() })
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(c.Kubeconfig); err != nil {
		return err
	}
	node, err := env.StartNode(ctx, testenv.NodeOptions{ImageArchive: archive, SandboxImage: pauseImage})
	if err != nil {
		return err
	}
	c.Node = node
	c.step("node %s ready in %s", testenv.NodeName, time.Since(t0).Round(time.Millisecond))

	dbURL, err := c.databaseForPods(ctx)
	if err != nil {
		return err
	}
	c.step("installing charts/aias with the Helm SDK")
	t0 = time.Now()
	if err := c.helmInstall(ctx, dbURL); err != nil {
		return err
	}
	c.step("installed in %s", time.Since(t0).Round(time.Millisecond))
	return nil
}

// writeImages writes the test images to archive, the AIAS image with the binaries in bin.
func writeImages(archive, bin string) error {
	a, err := ociimage.AIAS(bin)
	if err != nil {
		return err
	}
	b, err := ociimage.Busybox()
	if err != nil {
		return err
	}
	p, err := ociimage.Pause()
	if err != nil {
		return err
	}
	return ociimage.WriteArchive(archive, map[string]v1.Image{aiasImage: a, BusyboxImage: b, pauseImage: p})
}

// databaseForPods gives the package its own database and makes it reachable from the
// pods: the server listens on loopback (the machine's, or an ephemeral one), so a
// forwarder on the node's gateway address carries the pods' connections to it, as a
// managed database's endpoint would be reachable from a cloud cluster's pods.
func (c *Cluster) databaseForPods(ctx context.Context) (string, error) {
	dbURL, drop, err := postgres.ForTests(ctx, "realnode")
	if err != nil {
		return "", err
	}
	c.teardowns = append(c.teardowns, drop)
	u, err := url.Parse(dbURL)
	if err != nil {
		return "", err
	}
	target := u.Host
	if u.Port() == "" {
		target = net.JoinHostPort(u.Hostname(), "5432")
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(testenv.NodeGateway, pgForwardPort))
	if err != nil {
		return "", err
	}
	c.teardowns = append(c.teardowns, func() { ln.Close() })
	go forward(ln, target)
	u.Host = net.JoinHostPort(testenv.NodeGateway, pgForwardPort)
	q := u.Query()
	q.Del("host") // a socket directory would win over the host name
	u.RawQuery = q.Encode()
	return u.String(), nil
}

func forward(ln net.Listener, target string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			up, err := net.Dial("tcp", target)
			if err != nil {
				return
			}
			defer up.Close()
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); _, _ = io.Copy(up, c); closeWrite(up) }()
			go func() { defer wg.Done(); _, _ = io.Copy(c, up); closeWrite(c) }()
			wg.Wait()
		}()
	}
}

func closeWrite(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
}

// helmInstall installs charts/aias into aias-system as `helm install --wait` does, with
// the images imported above and the database Secret, and nothing else: a plain install,
// whose admission webhooks are served with the certificate the manager generates itself
// (no cert-manager, no certificate from the test).
func (c *Cluster) helmInstall(ctx context.Context, dbURL string) error {
	cl := c.Env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: installNamespace}}
	if err := cl.Create(ctx, ns); err != nil {
		return err
	}
	if err := cl.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "aias-database", Namespace: installNamespace},
		StringData: map[string]string{"url": dbURL},
	}); err != nil {
		return err
	}

	cfg, err := c.helmConfig()
	if err != nil {
		return err
	}
	chrt, err := loader.Load(filepath.Join(testenv.RepoRoot(), "charts", "aias"))
	if err != nil {
		return err
	}
	inst := action.NewInstall(cfg)
	inst.ReleaseName, inst.Namespace = releaseName, installNamespace
	inst.Wait, inst.Timeout = true, 5*time.Minute
	values := map[string]any{
		"image": map[string]any{"repository": aiasImageRepo, "tag": imageTag, "pullPolicy": "Never"},
		// The chart's default step runtime (its CSI driver) on this node's kubelet directory.
		"stepRuntime": map[string]any{"kubeletDir": c.Node.KubeletDir()},
	}
	if _, err := inst.RunWithContext(ctx, chrt, values); err != nil {
		return fmt.Errorf("helm install: %w\n%s", err, c.deploymentsState(ctx))
	}
	return c.waitAdmissionReachable(ctx)
}

// waitAdmissionReachable waits until the API server reaches the manager's admission
// webhook through its Service. `helm install --wait` returns once the manager pod is
// Ready, but kube-proxy programs the Service's rules a moment later, and until then every
// admission call is refused with "connection refused" (seen in CI: a test right after the
// install got it). A server-side dry-run of a Workflow calls the webhook and stores
// nothing; whether it admits or denies does not matter, only that it answered.
func (c *Cluster) waitAdmissionReachable(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var last error
	answered := 0
	err := wait.PollUntilContextCancel(ctx, 500*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: "default", GenerateName: "admission-probe-"},
			Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{Name: "a", Image: BusyboxImage}}}}
		last = c.Env.Client.Create(ctx, wf, client.DryRunAll)
		if last != nil && WebhookUnreachable(last) {
			answered = 0
			return false, nil
		}
		// Three answers in a row: one answer seen while the Service's endpoints were
		// still settling was followed, in CI, by "connection refused" seconds later.
		answered++
		return answered >= 3, nil
	})
	if err != nil {
		return fmt.Errorf("the admission webhook is not reachable through its Service: %v\n%s", last, c.deploymentsState(context.Background()))
	}
	return nil
}

func (c *Cluster) helmConfig() (*action.Configuration, error) {
	cfg := new(action.Configuration)
	getter := kube.GetConfig(c.Kubeconfig, "", installNamespace)
	// Helm's debug log (every wait poll) is noise here; failures come back as errors.
	if err := cfg.Init(getter, installNamespace, "secret", func(string, ...any) {}); err != nil {
		return nil, err
	}
	return cfg, nil
}

// HelmUninstall uninstalls the release as `helm uninstall --wait` does, and waits for
// its pods to be gone. The CRDs (crds/ of the chart) and the step-token key Secret
// (helm.sh/resource-policy: keep) stay, as they do for a user.
func (c *Cluster) HelmUninstall(ctx context.Context) error {
	cfg, err := c.helmConfig()
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.Wait, un.Timeout = true, 2*time.Minute
	if _, err := un.Run(releaseName); err != nil {
		return fmt.Errorf("helm uninstall: %w", err)
	}
	return c.waitNoPods(ctx)
}

func (c *Cluster) waitNoPods(ctx context.Context) error {
	left := 0
	err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		var pods corev1.PodList
		if err := c.Env.Client.List(ctx, &pods, client.InNamespace(installNamespace)); err != nil {
			return false, err
		}
		left = len(pods.Items)
		return left == 0, nil
	})
	if err != nil {
		return fmt.Errorf("%d pods of the uninstalled release remain: %w", left, err)
	}
	return nil
}

// KustomizeInstall installs config/default as docs/operations.md says a user does: set the image
// (what `kustomize edit set image aias=<image>` writes into config/default), then
// `kubectl apply --server-side -k config/default`, on a copy of config/; then waits for
// both Deployments to be available. The Secrets aias-database and aias-step-token-key
// must exist.
func (c *Cluster) KustomizeInstall(ctx context.Context) error {
	config := filepath.Join(c.dir, "config")
	if err := os.CopyFS(config, os.DirFS(filepath.Join(testenv.RepoRoot(), "config"))); err != nil {
		return err
	}
	kpath := filepath.Join(config, "default", "kustomization.yaml")
	k, err := os.ReadFile(kpath)
	if err != nil {
		return err
	}
	const was = "  newName: ghcr.io/aias-dev/aias\n  newTag: latest\n"
	if !strings.Contains(string(k), was) {
		return fmt.Errorf("config/default/kustomization.yaml no longer sets the image as %q", was)
	}
	k = []byte(strings.Replace(string(k), was, "  newName: "+aiasImageRepo+"\n  newTag: "+imageTag+"\n", 1))
	if err := os.WriteFile(kpath, k, 0o644); err != nil {
		return err
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, filepath.Join(assets, "kubectl"), "--kubeconfig", c.Kubeconfig,
		"apply", "--server-side", "--force-conflicts", "-k", filepath.Join(config, "default")).CombinedOutput()
	if err != nil {
		return fmt.Errorf("kubectl apply --server-side -k config/default: %v\n%s", err, out)
	}
	if err := c.waitDeployments(ctx, "aias-manager", "aias-webhookserver"); err != nil {
		return err
	}
	return c.waitAdmissionReachable(ctx)
}

func (c *Cluster) waitDeployments(ctx context.Context, names ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for _, name := range names {
		err := wait.PollUntilContextCancel(ctx, 250*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			d := &appsv1.Deployment{}
			if err := c.Env.Client.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: name}, d); err != nil {
				return false, nil // not created yet, or the apiserver is busy: look again
			}
			return d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas == *d.Spec.Replicas &&
				d.Status.AvailableReplicas == *d.Spec.Replicas, nil
		})
		if err != nil {
			return fmt.Errorf("deployment %s not available: %w\n%s", name, err, c.deploymentsState(context.Background()))
		}
	}
	return nil
}

// deploymentsState describes the install's Deployments and pods, for a failed install.
func (c *Cluster) deploymentsState(ctx context.Context) string {
	var b strings.Builder
	var deps appsv1.DeploymentList
	_ = c.Env.Client.List(ctx, &deps, client.InNamespace(installNamespace))
	for _, d := range deps.Items {
		fmt.Fprintf(&b, "deployment %s: %d/%d available\n", d.Name, d.Status.AvailableReplicas, d.Status.Replicas)
	}
	var pods corev1.PodList
	_ = c.Env.Client.List(ctx, &pods, client.InNamespace(installNamespace))
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s: %s", p.Name, p.Status.Phase)
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			switch {
			case cs.State.Waiting != nil:
				fmt.Fprintf(&b, " %s waiting %s %s;", cs.Name, cs.State.Waiting.Reason, cs.State.Waiting.Message)
			case cs.State.Terminated != nil:
				fmt.Fprintf(&b, " %s terminated %s exit %d;", cs.Name, cs.State.Terminated.Reason, cs.State.Terminated.ExitCode)
			default:
				fmt.Fprintf(&b, " %s running ready=%v restarts=%d;", cs.Name, cs.Ready, cs.RestartCount)
			}
		}
		b.WriteString("\n")
	}
	c.DumpPodLogs()
	return b.String()
}

// dumpPodLogs prints the end of every container log the kubelet wrote.
func (c *Cluster) DumpPodLogs() {
	if c.Node == nil {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(c.Node.PodLogs(), "*", "*", "*.log"))
	for _, l := range logs {
		c.logf("--- %s\n%s", strings.TrimPrefix(l, c.Node.PodLogs()+"/"), testenv.TailFile(l, 25))
	}
}

// ApplySamples applies config/samples as a user would after installing, with the step
// image swapped for the busybox image built here (the samples name debian:bookworm-slim,
// which cannot be pulled here). The Schedule is left out, so no Run appears unasked.
func (c *Cluster) ApplySamples(ctx context.Context) error {
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "config", "samples", "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if strings.Contains(f, "schedule") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		b = []byte(strings.ReplaceAll(string(b), "debian:bookworm-slim", BusyboxImage))
		for _, doc := range strings.Split(string(b), "\n---") {
			u := &unstructured.Unstructured{}
			if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
				return fmt.Errorf("%s: %w", f, err)
			}
			if len(u.Object) == 0 {
				continue
			}
			if err := Settling(func() error {
				return c.Env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner("aias-realnode"), client.ForceOwnership)
			}); err != nil {
				return fmt.Errorf("applying %s %s: %w", u.GetKind(), u.GetName(), err)
			}
		}
	}
	return nil
}

// Settling calls write until it succeeds, for up to 20 s: right after the install the
// admission webhook answers only once the manager's Endpoints reach kube-proxy's rules,
// and a Workflow is admitted once its namespace's Tenant is known. Both settle in seconds.
func Settling(write func() error) error {
	err := write()
	for tries := 0; err != nil && tries < 100; tries++ {
		time.Sleep(200 * time.Millisecond)
		err = write()
	}
	return err
}

// WebhookUnreachable reports an admission call the API server could not make (the
// webhook's Service has no ready endpoint yet, or its certificate is not in place), as
// opposed to the webhook's own answer.
func WebhookUnreachable(err error) bool {
	return err != nil && strings.Contains(err.Error(), "failed calling webhook")
}

// ServiceURL is http://<ClusterIP>:<port> of a Service of the install: the host reaches
// ClusterIPs through kube-proxy's rules, as any node does.
func (c *Cluster) ServiceURL(ctx context.Context, name string) (string, error) {
	svc := &corev1.Service{}
	if err := c.Env.Client.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: name}, svc); err != nil {
		return "", err
	}
	return fmt.Sprintf("http://%s:%d", svc.Spec.ClusterIP, svc.Spec.Ports[0].Port), nil
}
