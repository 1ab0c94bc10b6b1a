// Package testenv starts the shared envtest control plane (kube-apiserver + etcd built
// by hack/envtest.sh) with the AIAS CRDs installed, for integration tests.
package testenv

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Versions of the control plane that hack/envtest.sh builds; keep in step with it.
const (
	KubernetesVersion = "1.37.2"
	EtcdVersion       = "3.6.16"
)

// Env is a running control plane with a client that knows the AIAS kinds.
type Env struct {
	*envtest.Environment
	Config *rest.Config
	Client client.Client

	components []*component // kube-controller-manager, kube-scheduler
	nodes      []*Node      // real nodes (StartNode), stopped before the control plane
	dir        string       // their kubeconfig, configuration and logs
	apiserver  apiserverRestarts
	certDir    string // the apiserver's certificates when ours (Options.NodeIP)
	stopOnce   sync.Once
	stopErr    error
}

// RepoRoot is the checkout's top directory, found from this source file's location so
// tests work from any package directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// CacheDir is where hack/envtest.sh and hack/node.sh cache what they build:
// AIAS_CACHE_DIR, else ~/.cache/aias (as the scripts choose it).
func CacheDir() (string, error) {
	if cache := os.Getenv("AIAS_CACHE_DIR"); cache != "" {
		return cache, nil
	}
	base, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(base, "aias"), nil
}

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl:
// KUBEBUILDER_ASSETS when set (make test sets it), else hack/envtest.sh's default cache.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "envtest", fmt.Sprintf("k8s-%s-etcd-%s", KubernetesVersion, EtcdVersion))
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("envtest binaries missing in %s: run `make envtest` (or set KUBEBUILDER_ASSETS): %w", dir, err)
		}
	}
	return dir, nil
}

// Options choose what Start runs.
type Options struct {
	// APIOnly runs etcd and kube-apiserver alone, as envtest does by default: for tests of
	// the API itself (schema rules, manifests), where controllers and a scheduler would
	// only cost start-up time. Everything that creates Pods or relies on garbage
	// collection, namespace deletion or the Job controller needs the whole control plane.
	APIOnly bool
	// AuditLog, when set, is where kube-apiserver writes an audit event (JSON, level
	// Metadata) for every write request: verb, resource, user agent, response code. The
	// bench attributes writes to their writers with it.
	AuditLog string
	// CRDDirs are the CRDs to install; default config/crd/bases of this checkout.
	CRDDirs []string
	// NoSignalHandler leaves SIGINT and SIGTERM to the caller, which must then stop the
	// control plane itself on every exit path (`aias dev` does, after its own cleanup).
	NoSignalHandler bool
	// NodeIP, when set, is the address of a real node's pod network gateway
	// (StartNode's NodeGateway): the apiserver then listens on every address, advertises
	// NodeIP, and serves a certificate naming it and the kubernetes Service's ClusterIP,
	// so pods reach it as they do on any cluster.
	NodeIP string
}

// auditPolicy records writes only, at level Metadata, once each (at ResponseComplete).
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted", "Panic"]
rules:
- level: Metadata
  verbs: ["create", "update", "patch", "delete", "deletecollection"]
- level: None
`

// Start starts the whole control plane (see StartWith).
func Start() (*Env, error) { return StartWith(Options{}) }

// StartWith starts etcd and kube-apiserver with the CRDs from config/crd/bases installed
// and, unless o.APIOnly, kube-controller-manager and kube-scheduler beside them, with the
// ServiceAccount admission plugin on (envtest turns it off because nothing would create
// the default ServiceAccounts; here the service-account controller does). The caller
// must Stop it; StartWith also stops it on SIGINT/SIGTERM (unless o.NoSignalHandler),
// because a killed test process would otherwise leave the control plane running.
func StartWith(o Options) (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	if err := aiasv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return nil, err
	}
	if len(o.CRDDirs) == 0 {
		o.CRDDirs = []string{filepath.Join(RepoRoot(), "config", "crd", "bases")}
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     o.CRDDirs,
		ErrorIfCRDPathMissing: true,
	}
	if !o.APIOnly {
		env.ControlPlane.GetAPIServer().Configure().Disable("disable-admission-plugins")
	}
	// On SIGTERM, kube-apiserver lets open watches drain for at most this long. With the
	// default (0) it waits on the watches of kube-controller-manager, kube-scheduler and
	// every other client past envtest's 20 s stop timeout, and is killed: StopAPIServer
	// (and Stop, with clients still connected) would take 20 s and fail.
	env.ControlPlane.GetAPIServer().Configure().Set("shutdown-watch-termination-grace-period", "2s")
	var certDir string
	if o.NodeIP != "" {
		if certDir, err = servePods(env, o.NodeIP); err != nil {
			return nil, err
		}
	}
	if o.AuditLog != "" {
		policy := o.AuditLog + ".policy.yaml"
		if err := os.WriteFile(policy, []byte(auditPolicy), 0o600); err != nil {
			return nil, err
		}
		env.ControlPlane.GetAPIServer().Configure().
			Set("audit-log-path", o.AuditLog).Set("audit-policy-file", policy).Set("audit-log-format", "json")
	}
	cfg, err := env.Start()
	if err != nil {
		if certDir != "" {
			_ = os.RemoveAll(certDir)
		}
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	e := &Env{Environment: env, Config: cfg, certDir: certDir}
	if !o.NoSignalHandler {
		stopOnSignal(e)
	}
	if e.Client, err = client.New(cfg, client.Options{Scheme: scheme.Scheme}); err != nil {
		_ = e.Stop()
		return nil, err
	}
	if o.APIOnly {
		return e, nil
	}
	if e.dir, err = os.MkdirTemp("", "aias-controlplane-"); err != nil {
		_ = e.Stop()
		return nil, err
	}
	if e.components, err = startComponents(assets, e.dir, cfg, env.ControlPlane.GetAPIServer().CertDir); err != nil {
		_ = e.Stop()
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := waitControllers(ctx, e.Client, e.components); err != nil {
		_ = e.Stop()
		return nil, err
	}
	return e, nil
}

// Stop stops kube-scheduler and kube-controller-manager, then the apiserver and etcd.
// It is safe to call more than once.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		for _, n := range e.nodes {
			n.Stop()
		}
		stopComponents(e.components)
		e.stopErr = e.Environment.Stop()
		if e.dir != "" {
			_ = os.RemoveAll(e.dir)
		}
		e.apiserver.cleanup()
		if e.certDir != "" {
			_ = os.RemoveAll(e.certDir)
		}
	})
	return e.stopErr
}

// ComponentLog is the path of a component's log (kube-controller-manager,
// kube-scheduler), for a test that wants to show it; empty without one.
func (e *Env) ComponentLog(name string) string {
	for _, c := range e.components {
		if c.name == name {
			return c.log
		}
	}
	return ""
}

func stopOnSignal(e *Env) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "testenv: %v received, stopping the control plane\n", sig)
		_ = e.Stop()
		os.Exit(1)
	}()
}

// WriteKubeconfig writes an admin kubeconfig for the control plane at path, for tools
// that take one (kubectl, the Helm SDK, `aias trigger`).
func (e *Env) WriteKubeconfig(path string) error { return writeKubeconfig(path, e.Config) }
