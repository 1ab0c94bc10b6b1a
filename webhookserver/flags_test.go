package webhookserver

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// webhookserverConfig is what config/webhookserver deploys: the objects of the files its
// kustomization.yaml lists, by kind and name.
type webhookserverConfig struct {
	deployments     map[string]*appsv1.Deployment
	services        map[string]*corev1.Service
	serviceAccounts map[string]*corev1.ServiceAccount
	clusterRoles    map[string]*rbacv1.ClusterRole
	bindings        map[string]*rbacv1.ClusterRoleBinding
}

func readWebhookserverConfig(t *testing.T) webhookserverConfig {
	t.Helper()
	dir := filepath.Join(testenv.RepoRoot(), "config", "webhookserver")
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(raw, &k); err != nil {
		t.Fatalf("config/webhookserver/kustomization.yaml: %v", err)
	}
	cfg := webhookserverConfig{
		deployments:     map[string]*appsv1.Deployment{},
		services:        map[string]*corev1.Service{},
		serviceAccounts: map[string]*corev1.ServiceAccount{},
		clusterRoles:    map[string]*rbacv1.ClusterRole{},
		bindings:        map[string]*rbacv1.ClusterRoleBinding{},
	}
	for _, res := range k.Resources {
		raw, err := os.ReadFile(filepath.Join(dir, res))
		if err != nil {
			t.Fatalf("config/webhookserver/kustomization.yaml lists %s: %v", res, err)
		}
		for _, doc := range strings.Split(string(raw), "\n---") {
			var meta struct {
				Kind string `json:"kind"`
			}
			if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
				t.Fatalf("config/webhookserver/%s: %v", res, err)
			}
			var into func() (any, func(name string))
			switch meta.Kind {
			case "Deployment":
				into = newInto(cfg.deployments)
			case "Service":
				into = newInto(cfg.services)
			case "ServiceAccount":
				into = newInto(cfg.serviceAccounts)
			case "ClusterRole":
				into = newInto(cfg.clusterRoles)
			case "ClusterRoleBinding":
				into = newInto(cfg.bindings)
			default:
				continue
			}
			obj, store := into()
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("config/webhookserver/%s: %s: %v", res, meta.Kind, err)
			}
			store(obj.(metav1.Object).GetName())
		}
	}
	return cfg
}

// newInto returns a constructor of a T to decode into and a func that files it under its name.
func newInto[T any](m map[string]*T) func() (any, func(string)) {
	return func() (any, func(string)) {
		obj := new(T)
		return obj, func(name string) { m[name] = obj }
	}
}

// The aias-webhookserver Deployment in config/webhookserver must only pass flags the
// webhookserver knows, and with the environment it sets (the database URL from the Secret
// aias-database) the flags must be complete; the step-token key must be the mounted Secret
// aias-step-token-key (the manager's key); each listener must listen on the container port
// its Service targets; and the hook listener needs the service account token and RBAC.
func TestConfigWebhookServerArgsParse(t *testing.T) {
	const (
		keyFile   = "/etc/aias/step-token/key"
		keySecret = "aias-step-token-key"
		keyKey    = "key"
	)
	cfg := readWebhookserverConfig(t)
	dep := cfg.deployments["aias-webhookserver"]
	if dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("config/webhookserver has no single-container Deployment aias-webhookserver")
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if len(c.Command) < 2 || c.Command[1] != "webhookserver" {
		t.Errorf("command = %v, want [/aias webhookserver]", c.Command)
	}

	dbFromSecret := false
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			t.Setenv(e.Name, "dummy-from-secret-"+ref.Name+"-"+ref.Key)
			dbFromSecret = dbFromSecret || (e.Name == "AIAS_DATABASE_URL" && ref.Name == "aias-database" && ref.Key == "url")
		case e.ValueFrom == nil:
			t.Setenv(e.Name, e.Value)
		}
	}
	if !dbFromSecret {
		t.Error("env AIAS_DATABASE_URL does not come from Secret aias-database key url")
	}
	o, err := ParseFlags(c.Args)
	if err != nil {
		t.Fatalf("args %v: %v", c.Args, err)
	}

	if o.StepTokenKeyFile != keyFile {
		t.Errorf("--step-token-key-file = %q, want %q", o.StepTokenKeyFile, keyFile)
	}
	var mount *corev1.VolumeMount
	for i, m := range c.VolumeMounts {
		if m.MountPath == filepath.Dir(keyFile) {
			mount = &c.VolumeMounts[i]
		}
	}
	if mount == nil {
		t.Fatalf("nothing mounted at %s", filepath.Dir(keyFile))
	}
	if !mount.ReadOnly {
		t.Errorf("mount %s is not read-only", mount.MountPath)
	}
	var vol *corev1.Volume
	for i, v := range dep.Spec.Template.Spec.Volumes {
		if v.Name == mount.Name {
			vol = &dep.Spec.Template.Spec.Volumes[i]
		}
	}
	if vol == nil || vol.Secret == nil || vol.Secret.SecretName != keySecret {
		t.Fatalf("mount %s is not Secret %s: %+v", mount.MountPath, keySecret, vol)
	}
	path := keyKey // without items, every key is a file of its name
	if len(vol.Secret.Items) > 0 {
		path = ""
		for _, it := range vol.Secret.Items {
			if it.Key == keyKey {
				path = it.Path
			}
		}
	}
	if path != filepath.Base(keyFile) {
		t.Errorf("Secret %s key %q is mounted as %q, want %q", keySecret, keyKey, path, filepath.Base(keyFile))
	}

	// Every listener is on, on the container port of its name, and its Service targets it.
	for _, l := range []struct{ flag, addr, port, service string }{
		{"--public-bind-address", o.PublicAddr, "http", "aias-hooks"},
		{"--internal-bind-address", o.InternalAddr, "internal", "aias-internal"},
		{"--metrics-bind-address", o.MetricsAddr, "metrics", "aias-webhookserver-metrics"},
	} {
		_, port, err := net.SplitHostPort(l.addr)
		if err != nil || port == "0" {
			t.Errorf("%s=%q: want a listening address with a fixed port (%v)", l.flag, l.addr, err)
			continue
		}
		portOK := false
		for _, p := range c.Ports {
			portOK = portOK || (p.Name == l.port && strconv.Itoa(int(p.ContainerPort)) == port && p.Protocol != corev1.ProtocolUDP)
		}
		if !portOK {
			t.Errorf("%s=%q is not the container port named %s: %+v", l.flag, l.addr, l.port, c.Ports)
		}
		checkServiceTargets(t, cfg.services[l.service], l.service, dep, l.port)
	}
	if svc := cfg.services["aias-hooks"]; svc != nil {
		if svc.Spec.Type != "" && svc.Spec.Type != corev1.ServiceTypeClusterIP {
			t.Errorf("Service aias-hooks type %q, want ClusterIP (exposed by an Ingress or a patch)", svc.Spec.Type)
		}
		if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].Port != 80 {
			t.Errorf("Service aias-hooks ports %+v, want one port http 80", svc.Spec.Ports)
		}
	}

	// The hook listener reads WebhookEndpoints and Secrets and creates Runs as the pod's
	// service account: its token must be mounted and the ClusterRole bound to it.
	pod := dep.Spec.Template.Spec
	saName := pod.ServiceAccountName
	if saName == "" {
		saName = "default"
	}
	if pod.AutomountServiceAccountToken != nil && !*pod.AutomountServiceAccountToken {
		t.Error("the pod sets automountServiceAccountToken: false; the hook listener needs the token")
	}
	sa := cfg.serviceAccounts[saName]
	if sa == nil {
		t.Fatalf("config/webhookserver has no ServiceAccount %q (the Deployment's)", saName)
	}
	if sa.AutomountServiceAccountToken != nil && !*sa.AutomountServiceAccountToken && pod.AutomountServiceAccountToken == nil {
		t.Errorf("ServiceAccount %s sets automountServiceAccountToken: false and the pod does not override it", saName)
	}
	if sa.Namespace != dep.Namespace {
		t.Errorf("ServiceAccount %s is in namespace %q, the Deployment in %q", saName, sa.Namespace, dep.Namespace)
	}
	crb := cfg.bindings["aias-webhookserver"]
	if crb == nil {
		t.Fatal("config/webhookserver has no ClusterRoleBinding aias-webhookserver")
	}
	if crb.RoleRef.APIGroup != rbacv1.GroupName || crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != "aias-webhookserver" {
		t.Errorf("ClusterRoleBinding aias-webhookserver roleRef = %+v, want ClusterRole aias-webhookserver", crb.RoleRef)
	}
	if cfg.clusterRoles[crb.RoleRef.Name] == nil {
		t.Errorf("config/webhookserver lacks the ClusterRole %s (role.yaml, from make manifests)", crb.RoleRef.Name)
	}
	bound := false
	for _, s := range crb.Subjects {
		bound = bound || (s.Kind == rbacv1.ServiceAccountKind && s.Name == saName && s.Namespace == dep.Namespace)
	}
	if !bound {
		t.Errorf("ClusterRoleBinding aias-webhookserver subjects %+v do not include ServiceAccount %s/%s", crb.Subjects, dep.Namespace, saName)
	}
}

// checkServiceTargets asserts Service name selects the Deployment's pods and targets the
// container port named port.
func checkServiceTargets(t *testing.T, svc *corev1.Service, name string, dep *appsv1.Deployment, port string) {
	t.Helper()
	if svc == nil {
		t.Errorf("config/webhookserver has no Service %s", name)
		return
	}
	if len(svc.Spec.Selector) == 0 {
		t.Errorf("Service %s has no selector", name)
	}
	for k, v := range svc.Spec.Selector {
		if dep.Spec.Template.Labels[k] != v {
			t.Errorf("Service %s selects %s=%s, which the %s pods lack", name, k, v, dep.Name)
		}
	}
	for _, p := range svc.Spec.Ports {
		if p.TargetPort == intstr.FromString(port) {
			return
		}
	}
	t.Errorf("Service %s does not target the container port %s: %+v", name, port, svc.Spec.Ports)
}

// As config/default renders it (kustomize sets every namespace to aias-system), the binding
// still names the Deployment's ServiceAccount in the Deployment's namespace, and the hooks
// Service sits next to the pods it selects.
func TestConfigDefaultWebhookServerBinding(t *testing.T) {
	rendered := testenv.Kustomize(t, "default")
	dep, crb, hooks := &appsv1.Deployment{}, &rbacv1.ClusterRoleBinding{}, &corev1.Service{}
	rendered.Get(t, "Deployment", "aias-webhookserver", dep)
	rendered.Get(t, "ClusterRoleBinding", "aias-webhookserver", crb)
	rendered.Get(t, "Service", "aias-hooks", hooks)
	bound := false
	for _, s := range crb.Subjects {
		bound = bound || (s.Kind == rbacv1.ServiceAccountKind && s.Name == dep.Spec.Template.Spec.ServiceAccountName && s.Namespace == dep.Namespace)
	}
	if !bound {
		t.Errorf("rendered ClusterRoleBinding aias-webhookserver subjects %+v lack ServiceAccount %s/%s", crb.Subjects, dep.Namespace, dep.Spec.Template.Spec.ServiceAccountName)
	}
	if hooks.Namespace != dep.Namespace {
		t.Errorf("Service aias-hooks in namespace %q, the Deployment in %q", hooks.Namespace, dep.Namespace)
	}
}
