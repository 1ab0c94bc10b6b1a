package manager

import (
	"flag"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/aias-dev/aias/controllers"
)

// tenantDefaultFlags are the flags of what every tenant namespace gets from its Tenant.
type tenantDefaultFlags struct {
	limitRange                                       bool
	cpuRequest, memoryRequest, cpuLimit, memoryLimit string
}

func registerTenantDefaults(fs *flag.FlagSet, o *Options) *tenantDefaultFlags {
	f := &tenantDefaultFlags{}
	fs.BoolVar(&f.limitRange, "tenant-limit-range", true, "keep the LimitRange aias-defaults in every tenant namespace, so that step containers without resources get the defaults below (not BestEffort); false removes it")
	fs.StringVar(&f.cpuRequest, "tenant-default-cpu-request", "100m", "CPU request of a tenant container that sets none (empty: none)")
	fs.StringVar(&f.memoryRequest, "tenant-default-memory-request", "128Mi", "memory request of a tenant container that sets none (empty: none)")
	fs.StringVar(&f.cpuLimit, "tenant-default-cpu-limit", "1", "CPU limit of a tenant container that sets none (empty: none); a container requesting more must set its own limit")
	fs.StringVar(&f.memoryLimit, "tenant-default-memory-limit", "512Mi", "memory limit of a tenant container that sets none (empty: none); a container requesting more must set its own limit")
	fs.BoolVar(&o.TenantNetworkPolicy, "tenant-network-policy", true, "keep the NetworkPolicy aias-tenant-isolation in every tenant namespace: its pods accept connections only from pods of the same namespace; false removes it")
	return f
}

// containerDefaults parses the flags: nil when the LimitRange is off.
func (f *tenantDefaultFlags) containerDefaults() (*controllers.ContainerDefaults, error) {
	if !f.limitRange {
		return nil, nil
	}
	d := &controllers.ContainerDefaults{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		flag, value string
		into        corev1.ResourceList
		name        corev1.ResourceName
	}{
		{"tenant-default-cpu-request", f.cpuRequest, d.Requests, corev1.ResourceCPU},
		{"tenant-default-memory-request", f.memoryRequest, d.Requests, corev1.ResourceMemory},
		{"tenant-default-cpu-limit", f.cpuLimit, d.Limits, corev1.ResourceCPU},
		{"tenant-default-memory-limit", f.memoryLimit, d.Limits, corev1.ResourceMemory},
	} {
		if q.value == "" {
			continue
		}
		v, err := resource.ParseQuantity(q.value)
		if err != nil || v.Sign() <= 0 {
			return nil, fmt.Errorf("--%s=%s: want a positive quantity such as 100m or 128Mi", q.flag, q.value)
		}
		q.into[q.name] = v
	}
	for name, req := range d.Requests {
		if lim, ok := d.Limits[name]; ok && req.Cmp(lim) > 0 {
			return nil, fmt.Errorf("the default %s request %s is above the default %s limit %s", name, req.String(), name, lim.String())
		}
	}
	return d, nil
}
