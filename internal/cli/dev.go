//go:build !nodev

package cli

import (
	"os"

	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/aias-dev/aias/internal/devcluster"
)

// runDev is `aias dev` (what `make dev` runs from the checkout).
func runDev(args []string) error {
	o := devcluster.Options{Out: os.Stderr}
	fs := newFlags("dev", "dev [flags]")
	fs.StringVar(&o.StateDir, "state-dir", ".aias-dev", "where the kubeconfig, logs and step pod directories go")
	fs.StringVar(&o.CRDDir, "crd-dir", "config/crd/bases", "the CRDs to install")
	fs.StringVar(&o.SamplesDir, "samples", "config/samples", "manifests applied once everything runs")
	fs.StringVar(&o.TenantRoles, "tenant-roles", "config/rbac/tenant_roles.yaml", "the ClusterRoles Tenant members are bound to")
	fs.StringVar(&o.InternalAddr, "internal-bind-address", "127.0.0.1:0", "address of the internal step API (default: a free port)")
	fs.StringVar(&o.PublicAddr, "public-bind-address", "127.0.0.1:8080", "address of the public hook listener")
	fs.StringVar(&o.UserAddr, "user-bind-address", "127.0.0.1:8081", "address of the user API and web UI")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	return devcluster.Run(ctrl.SetupSignalHandler(), o)
}
