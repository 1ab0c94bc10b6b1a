package cli

import (
	"fmt"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/aias-dev/aias/internal/manager"
	"github.com/aias-dev/aias/internal/stepcsi"
	"github.com/aias-dev/aias/internal/stepjob"
)

// runStepRuntimeDriver serves the step runtime's CSI driver on this node (internal/stepcsi),
// as the chart's DaemonSet runs it.
func runStepRuntimeDriver(args []string) error {
	fs := newFlags("step-runtime-driver", "step-runtime-driver [--node-name n] [--kubelet-dir /var/lib/kubelet] [--source /aias-step]")
	cfg := stepcsi.Config{Version: manager.Version}
	fs.StringVar(&cfg.NodeName, "node-name", os.Getenv("NODE_NAME"), "the Node this driver serves (default $NODE_NAME)")
	fs.StringVar(&cfg.KubeletDir, "kubelet-dir", "/var/lib/kubelet", "the kubelet's --root-dir, mounted at the same path")
	fs.StringVar(&cfg.Source, "source", stepjob.StepImageBinary, "the step runtime binary each step Pod gets a copy of")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	cfg.Logf = func(format string, a ...any) { fmt.Fprintf(os.Stderr, "aias step-runtime-driver: "+format+"\n", a...) }
	return stepcsi.Serve(ctrl.SetupSignalHandler(), cfg)
}
