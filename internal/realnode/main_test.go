// Package realnode installs AIAS the way a platform team does, on a one-node cluster with
// a real kubelet, containerd and runc, kube-proxy and a CNI bridge (testenv.StartNode):
// the AIAS image built here (internal/ociimage) and imported into containerd, the Helm
// chart installed with the Helm SDK (the manager and webhookserver as its Deployments,
// under their ServiceAccounts, admission on with a caBundle from the test), PostgreSQL
// reachable from the pods. The tests then drive the whole path in real containers.
//
// It needs root and what `make node` prepares (kubelet, kube-proxy, Debian's containerd,
// runc, CNI plugins and busybox-static).
package realnode

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/kube"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/aias-dev/aias/internal/ociimage"
	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/testenv"
)

// The images the tests import; none can be pulled.
const (
	aiasImageRepo = "aias.local/aias"
	imageTag      = "e2e"
	aiasImage     = aiasImageRepo + ":" + imageTag
	busyboxImage  = "aias.local/busybox:" + imageTag
	pauseImage    = "aias.local/pause:" + imageTag

	installNamespace = "aias-system"
	releaseName      = "aias"
	// pgForwardPort is where the node's gateway forwards to the test's PostgreSQL.
	pgForwardPort = "15432"
)

// cluster is what TestMain set up.
var cluster struct {
	env        *testenv.Env
	node       *testenv.Node
	aias       string // the aias binary in the image, for `aias trigger`
	kubeconfig string
	dir        string
}

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "realnode: a real node needs root; skipping the package")
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 25*time.Minute)
	defer cancel()
	if err := setUp(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "realnode: setting up the cluster:", err)
		tearDown()
		return 1
	}
	code := m.Run()
	if code != 0 {
		fmt.Fprintln(os.Stderr, cluster.node.Logs(40))
		dumpPodLogs()
	}
	tearDown()
	return code
}

var teardowns []func()

func tearDown() {
	for i := len(teardowns) - 1; i >= 0; i-- {
		teardowns[i]()
	}
}

func step(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "realnode: "+format+"\n", a...)
}

func setUp(ctx context.Context) error {
	dir, err := os.MkdirTemp("", "aias-realnode-")
	if err != nil {
		return err
	}
	cluster.dir = dir
	teardowns = append(teardowns, func() { os.RemoveAll(dir) })

	step("building the aias image")
	t0 := time.Now()
	cluster.aias = filepath.Join(dir, "aias")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", cluster.aias, "./cmd/aias")
	build.Dir, build.Stdout, build.Stderr = testenv.RepoRoot(), os.Stderr, os.Stderr
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if err := build.Run(); err != nil {
		return fmt.Errorf("building aias: %w", err)
	}
	archive := filepath.Join(dir, "images.tar")
	if err := writeImages(archive, cluster.aias); err != nil {
		return err
	}
	step("image built in %s", time.Since(t0).Round(time.Millisecond))

	step("starting the control plane and the node")
	t0 = time.Now()
	env, err := testenv.StartWith(testenv.Options{NodeIP: testenv.NodeGateway})
	if err != nil {
		return err
	}
	cluster.env = env
	teardowns = append(teardowns, func() { _ = env.Stop() })
	cluster.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := env.WriteKubeconfig(cluster.kubeconfig); err != nil {
		return err
	}
	node, err := env.StartNode(ctx, testenv.NodeOptions{ImageArchive: archive, SandboxImage: pauseImage})
	if err != nil {
		return err
	}
	cluster.node = node
	step("node %s ready in %s", testenv.NodeName, time.Since(t0).Round(time.Millisecond))

	dbURL, err := databaseForPods(ctx)
	if err != nil {
		return err
	}
	step("installing charts/aias with the Helm SDK")
	t0 = time.Now()
	if err := helmInstall(ctx, dbURL); err != nil {
		return err
	}
	step("installed in %s", time.Since(t0).Round(time.Millisecond))
	return nil
}

func writeImages(archive, binary string) error {
	a, err := ociimage.AIAS(binary)
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
	return ociimage.WriteArchive(archive, map[string]v1.Image{aiasImage: a, busyboxImage: b, pauseImage: p})
}

// databaseForPods gives the package its own database and makes it reachable from the
// pods: the server listens on loopback (the machine's, or an ephemeral one), so a
// forwarder on the node's gateway address carries the pods' connections to it, as a
// managed database's endpoint would be reachable from a cloud cluster's pods.
func databaseForPods(ctx context.Context) (string, error) {
	dbURL, drop, err := postgres.ForTests(ctx, "realnode")
	if err != nil {
		return "", err
	}
	teardowns = append(teardowns, drop)
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
	teardowns = append(teardowns, func() { ln.Close() })
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
// the images imported above, the database Secret, and admission webhooks served with a
// certificate whose CA the test passes as caBundle (no cert-manager).
func helmInstall(ctx context.Context, dbURL string) error {
	c := cluster.env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: installNamespace}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "aias-database", Namespace: installNamespace},
		StringData: map[string]string{"url": dbURL},
	}); err != nil {
		return err
	}
	service := "aias-manager-webhook"
	chain, key, err := cert.GenerateSelfSignedCertKey(service+"."+installNamespace+".svc", nil,
		[]string{service, service + "." + installNamespace, service + "." + installNamespace + ".svc.cluster.local"})
	if err != nil {
		return err
	}
	_, caPEM := pem.Decode(chain)
	if err := c.Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "aias-test-webhook-cert", Namespace: installNamespace},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{"tls.crt": chain, "tls.key": key},
	}); err != nil {
		return err
	}

	cfg := new(action.Configuration)
	getter := kube.GetConfig(cluster.kubeconfig, "", installNamespace)
	if err := cfg.Init(getter, installNamespace, "secret", func(f string, a ...any) { step("helm: "+f, a...) }); err != nil {
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
		"admission": map[string]any{
			"enabled":     true,
			"certManager": map[string]any{"enabled": false},
			"certSecret":  "aias-test-webhook-cert",
			"caBundle":    base64.StdEncoding.EncodeToString(bytes.TrimSpace(caPEM)),
		},
	}
	if _, err := inst.RunWithContext(ctx, chrt, values); err != nil {
		return fmt.Errorf("helm install: %w\n%s", err, deploymentsState(ctx))
	}
	return nil
}

// deploymentsState describes the install's Deployments and pods, for a failed install.
func deploymentsState(ctx context.Context) string {
	var b strings.Builder
	var deps appsv1.DeploymentList
	_ = cluster.env.Client.List(ctx, &deps, client.InNamespace(installNamespace))
	for _, d := range deps.Items {
		fmt.Fprintf(&b, "deployment %s: %d/%d available\n", d.Name, d.Status.AvailableReplicas, d.Status.Replicas)
	}
	var pods corev1.PodList
	_ = cluster.env.Client.List(ctx, &pods, client.InNamespace(installNamespace))
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
	dumpPodLogs()
	return b.String()
}

// dumpPodLogs prints the end of every container log the kubelet wrote.
func dumpPodLogs() {
	if cluster.node == nil {
		return
	}
	logs, _ := filepath.Glob(filepath.Join(cluster.node.PodLogs(), "*", "*", "*.log"))
	for _, l := range logs {
		fmt.Fprintf(os.Stderr, "--- %s\n%s\n", strings.TrimPrefix(l, cluster.node.PodLogs()+"/"), testenv.TailFile(l, 25))
	}
}
