package manager

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// The tenant namespace defaults as flags give them: on by default with the documented
// values, each default removable, the LimitRange and the NetworkPolicy each turned off by
// its flag, and values a LimitRange would refuse refused at start.
func TestTenantDefaultFlags(t *testing.T) {
	base := []string{"--database-url=postgres://x", "--step-token-key-file=/k"}
	o, err := ParseFlags(base)
	if err != nil {
		t.Fatal(err)
	}
	d := o.TenantContainerDefaults
	want := map[string]string{"requests.cpu": "100m", "requests.memory": "128Mi", "limits.cpu": "1", "limits.memory": "512Mi"}
	got := map[string]string{}
	if d != nil {
		for n, q := range d.Requests {
			got["requests."+string(n)] = q.String()
		}
		for n, q := range d.Limits {
			got["limits."+string(n)] = q.String()
		}
	}
	if len(got) != len(want) {
		t.Fatalf("defaults %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %s, want %s", k, got[k], v)
		}
	}
	if !o.TenantNetworkPolicy {
		t.Error("--tenant-network-policy is off by default")
	}

	o, err = ParseFlags(append(base, "--tenant-limit-range=false", "--tenant-network-policy=false"))
	if err != nil || o.TenantContainerDefaults != nil || o.TenantNetworkPolicy {
		t.Errorf("turned off: %+v %v %v", o.TenantContainerDefaults, o.TenantNetworkPolicy, err)
	}
	o, err = ParseFlags(append(base, "--tenant-default-cpu-limit=", "--tenant-default-memory-request=1Gi", "--tenant-default-memory-limit=2Gi"))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := o.TenantContainerDefaults.Limits[corev1.ResourceCPU]; ok {
		t.Error("an empty --tenant-default-cpu-limit still sets a CPU limit")
	}
	if q := o.TenantContainerDefaults.Requests[corev1.ResourceMemory]; q.Cmp(resource.MustParse("1Gi")) != 0 {
		t.Errorf("memory request %s, want 1Gi", q.String())
	}
	for _, bad := range []struct{ args, mention string }{
		{"--tenant-default-cpu-request=lots", "tenant-default-cpu-request"},
		{"--tenant-default-memory-limit=-1Mi", "tenant-default-memory-limit"},
		{"--tenant-default-cpu-request=2", "above the default cpu limit"},
	} {
		if _, err := ParseFlags(append(base, bad.args)); err == nil || !strings.Contains(err.Error(), bad.mention) {
			t.Errorf("%s: err %v, want one mentioning %q", bad.args, err, bad.mention)
		}
	}
}
