package testenv

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The components that stand beside envtest's kube-apiserver and etcd, as on every real
// cluster: kube-controller-manager (the Job controller, the garbage collector, the
// namespace, service-account and node-lifecycle controllers and every other one on by
// default) and kube-scheduler, both at their default client rate limits (20/30 and 50/100
// requests per second), which on EKS, GKE or AKS nobody can change. No kubelet: a node
// agent (internal/testrig/nodeagent) registers a Node and runs the Pods bound to it.
//
// Both are built by hack/envtest.sh from the same k8s.io/kubernetes module as the
// apiserver and found in the same assets directory.

// component is one control plane process beside the apiserver.
type component struct {
	name string
	cmd  *exec.Cmd
	log  string // its stderr
	done chan error
}

// startComponents writes a kubeconfig for cfg and starts kube-controller-manager and
// kube-scheduler from assets, logging to files under dir.
func startComponents(assets, dir string, cfg *rest.Config, apiserverCertDir string) ([]*component, error) {
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, cfg); err != nil {
		return nil, err
	}
	caFile := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(caFile, cfg.CAData, 0o600); err != nil {
		return nil, err
	}
	schedConfig := filepath.Join(dir, "scheduler.yaml")
	// The v1 defaults (clientConnection qps 50, burst 100), without leader election: one
	// scheduler, as one kube-scheduler replica leads on a real cluster.
	if err := os.WriteFile(schedConfig, []byte(fmt.Sprintf(`apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: %q
leaderElection:
  leaderElect: false
`, kubeconfig)), 0o600); err != nil {
		return nil, err
	}
	specs := []struct {
		name string
		args []string
	}{
		{"kube-controller-manager", []string{
			"--kubeconfig=" + kubeconfig,
			"--leader-elect=false",
			"--secure-port=0",
			"--controllers=*",
			// The token controller signs legacy service-account token Secrets with the
			// apiserver's own signing key, as kubeadm sets it up.
			"--service-account-private-key-file=" + filepath.Join(apiserverCertDir, "sa-signer.key"),
			"--root-ca-file=" + caFile,
			"--v=1",
		}},
		{"kube-scheduler", []string{"--config=" + schedConfig, "--secure-port=0", "--v=1"}},
	}
	var started []*component
	for _, s := range specs {
		c, err := startComponent(filepath.Join(assets, s.name), s.name, dir, s.args)
		if err != nil {
			stopComponents(started)
			return nil, err
		}
		started = append(started, c)
	}
	return started, nil
}

func startComponent(bin, name, dir string, args []string) (*component, error) {
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%s missing (run `make envtest`): %w", name, err)
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// Its own process group, so a signal to the test does not reach it before we stop it
	// in order, and Pdeathsig so it dies with us even when we are killed outright.
	cmd.SysProcAttr = componentSysProcAttr()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	c := &component{name: name, cmd: cmd, log: logPath, done: make(chan error, 1)}
	go func() { c.done <- cmd.Wait(); logFile.Close() }()
	return c, nil
}

// stopComponents stops them in reverse order: SIGTERM, then SIGKILL after 5 s.
func stopComponents(cs []*component) {
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(5 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
}

// exited reports a component that stopped by itself, with the end of its log.
func exited(cs []*component) error {
	for _, c := range cs {
		select {
		case err := <-c.done:
			c.done <- err
			return fmt.Errorf("%s exited (%v); last log lines:\n%s", c.name, err, TailFile(c.log, 20))
		default:
		}
	}
	return nil
}

// waitControllers waits until kube-controller-manager acts: the service-account
// controller gives namespace default its ServiceAccount.
func waitControllers(ctx context.Context, c client.Client, cs []*component) error {
	for {
		if err := exited(cs); err != nil {
			return err
		}
		err := c.Get(ctx, client.ObjectKey{Namespace: "default", Name: "default"}, &corev1.ServiceAccount{})
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-controller-manager did not create ServiceAccount default/default: %w", errors.Join(ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func writeKubeconfig(path string, cfg *rest.Config) error {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "admin"}
	kc.CurrentContext = "envtest"
	return clientcmd.WriteToFile(*kc, path)
}

// TailFile is the last n lines of the file at path (its read error when it has none), for
// failure messages that quote a component's log.
func TailFile(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
