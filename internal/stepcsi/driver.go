// Package stepcsi is the step runtime's CSI driver: a node plugin that gives every step
// Pod the step runtime (/aias-step) as an inline ephemeral CSI volume, in place of the
// init container that copies it out of the runner image.
//
// Why a CSI volume: an init container costs a step Pod a whole container start, and the
// kubelet starts the step's own container only once its pod worker sees the init
// container end (with the generic PLEG, the next relist, up to a second later); measured
// on the project's real node, a bare Pod with a no-op init container takes 1.5× a bare
// Pod's time and 20 at once reach 0.75–0.82 of the bare rate. A volume is ready before
// the first container starts. Pod Security "restricted" allows inline CSI volumes (it
// refuses hostPath), and image volumes need containerd 2.1+; see docs/architecture.md.
//
// The driver has no controller part and no API access: the kubelet calls
// NodePublishVolume with the volume's target directory, and the driver writes a fresh copy
// of the runtime there (read-only, mode 0555), so no Pod can change what another Pod
// runs; NodeUnpublishVolume removes it. It registers itself with the kubelet through the
// plugin watcher (pluginregistration/v1), so no node-driver-registrar sidecar is needed.
package stepcsi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc"
	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/aias-dev/aias/internal/stepjob"
)

// Config is what the driver needs on its node.
type Config struct {
	// NodeName is the Node the driver serves (its CSINode's node ID).
	NodeName string
	// KubeletDir is the kubelet's --root-dir (/var/lib/kubelet by default), mounted at the
	// same path in the driver's container: the kubelet hands it target paths under
	// KubeletDir/pods and finds plugins under KubeletDir/plugins_registry.
	KubeletDir string
	// Source is the step runtime binary to copy (/aias-step in the runner image).
	Source string
	// Version is reported to the kubelet (GetPluginInfo).
	Version string
	// Logf reports what the driver does; no secrets pass through it.
	Logf func(format string, args ...any)
}

func (c Config) podsDir() string { return filepath.Join(c.KubeletDir, "pods") }
func (c Config) pluginDir() string {
	return filepath.Join(c.KubeletDir, "plugins", stepjob.RuntimeDriver)
}
func (c Config) csiSocket() string { return filepath.Join(c.pluginDir(), "csi.sock") }
func (c Config) regSocket() string {
	return filepath.Join(c.KubeletDir, "plugins_registry", stepjob.RuntimeDriver+"-reg.sock")
}

// Serve runs the driver until ctx ends: the CSI socket the kubelet calls, and the
// registration socket its plugin watcher finds.
func Serve(ctx context.Context, cfg Config) error {
	if cfg.NodeName == "" || cfg.KubeletDir == "" || cfg.Source == "" {
		return errors.New("node name, kubelet dir and source are required")
	}
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	if _, err := os.Stat(cfg.Source); err != nil {
		return fmt.Errorf("the step runtime: %w", err)
	}
	n := &node{cfg: cfg}

	csiServer := grpc.NewServer()
	csi.RegisterIdentityServer(csiServer, &identity{version: cfg.Version})
	csi.RegisterNodeServer(csiServer, n)
	regServer := grpc.NewServer()
	registerapi.RegisterRegistrationServer(regServer, &registration{cfg: cfg})

	errs := make(chan error, 2)
	for _, s := range []struct {
		srv  *grpc.Server
		path string
	}{{csiServer, cfg.csiSocket()}, {regServer, cfg.regSocket()}} {
		l, err := listenUnix(s.path)
		if err != nil {
			csiServer.Stop()
			regServer.Stop()
			return err
		}
		go func() { errs <- s.srv.Serve(l) }()
	}
	cfg.Logf("serving %s on node %s (%s); registering through %s", stepjob.RuntimeDriver, cfg.NodeName, cfg.csiSocket(), cfg.regSocket())
	var err error
	select {
	case <-ctx.Done():
	case err = <-errs:
	}
	regServer.Stop() // the kubelet unregisters a plugin whose socket is gone
	csiServer.GracefulStop()
	_ = os.Remove(cfg.regSocket())
	_ = os.Remove(cfg.csiSocket())
	return err
}

// listenUnix listens on a fresh socket at path, reachable by root only (the kubelet).
func listenUnix(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}
