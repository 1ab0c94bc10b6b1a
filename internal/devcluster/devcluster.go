// Package devcluster is `aias dev`: the whole product on one machine, for trying it out.
// It starts the test control plane (envtest's kube-apiserver and etcd, kube-controller-
// manager and kube-scheduler), a PostgreSQL database, the internal step API, the manager
// with every controller, and the node agent that registers a Node and runs the Pods
// bound to it as local processes; applies the samples; writes a kubeconfig; and on
// Ctrl-C stops all of it and leaves nothing running.
package devcluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/aias-dev/aias/internal/manager"
	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/testrig/nodeagent"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/webhookserver"
)

// Options say where things are and go.
type Options struct {
	// StateDir receives the kubeconfig, the step-token key, logs and pod directories.
	StateDir string
	// CRDDir and SamplesDir are config/crd/bases and config/samples of the checkout;
	// TenantRoles is config/rbac/tenant_roles.yaml (the roles Tenant members are bound to).
	CRDDir, SamplesDir, TenantRoles string
	// InternalAddr is where the internal step API listens (the node agent's processes
	// reach it there); PublicAddr is the hook listener; UserAddr serves the user API
	// and the web UI.
	InternalAddr, PublicAddr, UserAddr string
	// AiasBinary is the aias binary (default: this executable).
	AiasBinary string
	// StepBinary is the step runtime the step Pods run, the runner image's
	// stepjob.StepImageBinary: aias-step (cmd/aias-step) in production; default
	// AiasBinary, whose step-run and install-runner are the same code.
	StepBinary string
	// Out receives progress and the closing instructions.
	Out io.Writer
	// Ready, when set, is called once everything runs (tests use it).
	Ready func(Cluster)
}

// Cluster is what a running dev environment offers.
type Cluster struct {
	Kubeconfig  string // path
	DatabaseURL string
	InternalAPI string // URL
	PublicURL   string // base URL of the hook listener
	UserURL     string // base URL of the user API and web UI
	Token       string // a bearer token of the sample tenant's ServiceAccount acme/ci (editor)
	TokenFile   string // the same token in a file
	Kubectl     string // path of the kubectl built with the control plane
	Aias        string // path of this binary
}

// Run starts everything, blocks until ctx is done, then stops everything in reverse.
func Run(ctx context.Context, o Options) (err error) {
	say := func(format string, a ...any) { fmt.Fprintf(o.Out, "aias dev: "+format+"\n", a...) }
	// Absolute, because step processes run in their own working directories.
	if o.StateDir, err = filepath.Abs(o.StateDir); err != nil {
		return err
	}
	if err := os.MkdirAll(o.StateDir, 0o755); err != nil {
		return err
	}
	assets, err := testenv.AssetsDir()
	if err != nil {
		return fmt.Errorf("%w\n(`make dev` builds them first; that takes ~20 minutes once)", err)
	}

	say("starting kube-apiserver %s, etcd %s, kube-controller-manager and kube-scheduler", testenv.KubernetesVersion, testenv.EtcdVersion)
	// Signals are ctx's business: the deferred steps below stop everything in order.
	env, err := testenv.StartWith(testenv.Options{CRDDirs: []string{o.CRDDir}, NoSignalHandler: true})
	if err != nil {
		return fmt.Errorf("starting the control plane: %w", err)
	}
	cfg := env.Config
	defer func() {
		say("stopping the control plane")
		if serr := env.Stop(); serr != nil && err == nil {
			err = serr
		}
	}()
	admin, err := env.AddUser(envtest.User{Name: "aias-dev-admin", Groups: []string{"system:masters"}}, nil)
	if err != nil {
		return err
	}
	kubeconfig, err := admin.KubeConfig()
	if err != nil {
		return err
	}
	c := Cluster{Kubeconfig: filepath.Join(o.StateDir, "kubeconfig"), Kubectl: filepath.Join(assets, "kubectl")}
	if err := os.WriteFile(c.Kubeconfig, kubeconfig, 0o600); err != nil {
		return err
	}

	say("preparing PostgreSQL")
	pg, err := postgres.Acquire(ctx, func(f string, a ...any) { say("postgres: "+f, a...) })
	if err != nil {
		return err
	}
	defer func() {
		if rerr := pg.Release(); rerr != nil && err == nil {
			err = rerr
		}
	}()
	dbURL, dropDB, err := pg.CreateDatabase(ctx, "aias_dev")
	if err != nil {
		return err
	}
	defer func() {
		say("dropping the dev database")
		_ = dropDB(context.Background())
	}()
	c.DatabaseURL = dbURL

	keyFile := filepath.Join(o.StateDir, "step-token.key")
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		return err
	}
	self := o.AiasBinary
	if self == "" {
		if self, err = os.Executable(); err != nil {
			return err
		}
	}
	c.Aias = self
	stepBinary := o.StepBinary
	if stepBinary == "" {
		stepBinary = self
	}
	logFile, err := os.Create(filepath.Join(o.StateDir, "aias.log"))
	if err != nil {
		return err
	}
	defer logFile.Close()

	// Everything below stops when run is canceled; the deferred waits make sure it has
	// before the database and control plane go away.
	run, stop := context.WithCancel(ctx)
	defer stop()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	defer wg.Wait()
	defer stop()

	apiReady := make(chan webhookserver.Addrs, 1)
	wg.Go(func() {
		err := webhookserver.Serve(run, webhookserver.Options{
			PublicAddr: o.PublicAddr, InternalAddr: o.InternalAddr, UserAddr: o.UserAddr, MetricsAddr: "0",
			DatabaseURL: dbURL, StepTokenKeyFile: keyFile,
			MaxArtifactBytes: 1 << 30, MaxLogBatch: 1000,
			RestConfig: cfg, Log: zap.New(zap.WriteTo(logFile)),
		}, func(a webhookserver.Addrs) { apiReady <- a })
		if err != nil {
			errs <- fmt.Errorf("webhookserver: %w", err)
		}
	})
	select {
	case a := <-apiReady:
		c.InternalAPI = "http://" + a.Internal
		c.PublicURL = "http://" + a.Public
		c.UserURL = "http://" + a.User
	case err := <-errs:
		return err
	case <-ctx.Done():
		return nil
	}

	// The node agent plays the kubelet of one Node: the step Pods the scheduler binds to
	// it run as local processes, the runner image's step runtime being stepBinary.
	agent := &nodeagent.Agent{
		Config:   cfg,
		Binaries: map[string]string{stepjob.StepImageBinary: stepBinary},
		WorkRoot: filepath.Join(o.StateDir, "pods"), KeepFailed: true,
	}
	mopts := manager.Options{
		MetricsAddr: "0", ProbeAddr: "0",
		DatabaseURL: dbURL, StepTokenKeyFile: keyFile,
		RunnerImage: "aias-dev-runner", InternalAPIURL: c.InternalAPI, PublicBaseURL: c.PublicURL,
		Zap:   zap.Options{Development: true, DestWriter: logFile},
		Extra: []func(ctrl.Manager) error{func(mgr ctrl.Manager) error { return mgr.Add(agent) }},
	}
	say("starting the manager and the node agent (node %s); hooks on %s, internal step API on %s; logs in %s",
		nodeagent.DefaultNodeName, c.PublicURL, c.InternalAPI, logFile.Name())
	wg.Go(func() {
		if err := manager.Run(run, cfg, mopts); err != nil {
			errs <- fmt.Errorf("manager: %w", err)
		}
		agent.Stop() // every step process is gone, even if the manager's shutdown timed out
	})

	for _, manifests := range []string{o.TenantRoles, o.SamplesDir} {
		say("applying %s", manifests)
		apply := exec.CommandContext(ctx, c.Kubectl, "--kubeconfig", c.Kubeconfig, "apply", "--server-side", "-f", manifests)
		apply.Stdout, apply.Stderr = o.Out, o.Out
		if err := apply.Run(); err != nil {
			return fmt.Errorf("applying %s: %w", manifests, err)
		}
	}
	if c.Token, err = dashboardToken(ctx, cfg); err != nil {
		return fmt.Errorf("making a dashboard token: %w", err)
	}
	c.TokenFile = filepath.Join(o.StateDir, "dashboard-token")
	if err := os.WriteFile(c.TokenFile, []byte(c.Token), 0o600); err != nil {
		return err
	}
	printNextSteps(o.Out, c)
	if o.Ready != nil {
		o.Ready(c)
	}
	select {
	case <-ctx.Done():
		say("stopping (the node agent stops every step process)")
		return nil
	case err := <-errs:
		return err
	}
}

func printNextSteps(w io.Writer, c Cluster) {
	fmt.Fprintf(w, `
AIAS is running. In another terminal:

  export KUBECONFIG=%s
  kubectl get workflows,webhookendpoints,runs -n acme      # or: kubectl get aias -n acme
  kubectl describe run release-notes-manual-1 -n acme      # the sample Run, step by step
  kubectl get jobs,pods -n acme -L aias.dev/step,aias.dev/attempt

Deliver a signed webhook to the sample endpoint (Standard Webhooks, key from its Secret):

  %s trigger github-push -n acme --data '{"ref":"refs/heads/main","commits":2}'
  kubectl get runs -n acme -l aias.dev/webhookendpoint=github-push

Or start a run directly:

  kubectl create -n acme -f - <<'YAML'
  apiVersion: aias.dev/v1alpha1
  kind: Run
  metadata: {generateName: release-notes-}
  spec: {workflowRef: {name: release-notes}, input: '{"ref":"refs/heads/dev","commits":1}'}
  YAML

Watch runs in the dashboard: open %s and paste this token (ServiceAccount acme/ci, an
editor of the sample tenant; valid 24h):

  %s

or from the CLI (also usable as a kubectl plugin: ln -s aias kubectl-aias):

  export AIAS_SERVER=%s AIAS_USER_TOKEN=$(cat %s)
  %s runs -n acme
  %s logs release-notes-manual-1 -n acme

Hooks listen on %s/hooks/<namespace>/<endpoint>. (kubectl here is %s; any kubectl >= 1.30 works.)
Press Ctrl-C to stop everything.
`, c.Kubeconfig, c.Aias, c.UserURL, c.Token, c.UserURL, c.TokenFile, c.Aias, c.Aias, c.PublicURL, c.Kubectl)
}
