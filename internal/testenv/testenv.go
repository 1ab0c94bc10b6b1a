// Package testenv starts the shared envtest control plane (kube-apiserver + etcd built
// by hack/envtest.sh) with the AIAS CRDs installed, for integration tests.
package testenv

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"

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
}

// RepoRoot is the checkout's top directory, found from this source file's location so
// tests work from any package directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// AssetsDir returns the directory holding kube-apiserver, etcd and kubectl:
// KUBEBUILDER_ASSETS when set (make test sets it), else hack/envtest.sh's default cache.
func AssetsDir() (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	cache := os.Getenv("AIAS_CACHE_DIR")
	if cache == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return "", err
		}
		cache = filepath.Join(base, "aias")
	}
	dir := filepath.Join(cache, "envtest", fmt.Sprintf("k8s-%s-etcd-%s", KubernetesVersion, EtcdVersion))
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(dir, bin)); err != nil {
			return "", fmt.Errorf("envtest binaries missing in %s: run `make envtest` (or set KUBEBUILDER_ASSETS): %w", dir, err)
		}
	}
	return dir, nil
}

// Start starts a control plane with the CRDs from config/crd/bases installed.
// The caller must Stop it; Start also stops it on SIGINT/SIGTERM, because a killed test
// process would otherwise leave etcd and kube-apiserver running.
func Start() (*Env, error) {
	assets, err := AssetsDir()
	if err != nil {
		return nil, err
	}
	if err := aiasv1alpha1.AddToScheme(scheme.Scheme); err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	stopOnSignal(env)
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme})
	if err != nil {
		_ = env.Stop()
		return nil, err
	}
	return &Env{Environment: env, Config: cfg, Client: c}, nil
}

func stopOnSignal(env *envtest.Environment) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		sig := <-ch
		fmt.Fprintf(os.Stderr, "testenv: %v received, stopping the control plane\n", sig)
		_ = env.Stop()
		os.Exit(1)
	}()
}
