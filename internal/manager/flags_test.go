package manager

import (
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"sigs.k8s.io/yaml"

	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// What config/ deploys next to the binaries: the Secrets the installer creates and where
// the step-token key is mounted.
const (
	databaseSecret     = "aias-database"
	databaseSecretKey  = "url"
	stepTokenSecret    = "aias-step-token-key"
	stepTokenSecretKey = "key"
	stepTokenKeyFile   = "/etc/aias/step-token/key"
)

// The Deployment in config/manager must only pass flags the manager knows, or a kustomize
// install would crash-loop on an unknown flag; and with the environment the Deployment sets
// (the database URL from a Secret), the flags must be complete.
func TestConfigManagerArgsParse(t *testing.T) {
	deps := readDeployments(t, filepath.Join(testenv.RepoRoot(), "config", "manager", "manager.yaml"))
	found := false
	for _, d := range deps {
		for _, c := range d.Spec.Template.Spec.Containers {
			found = true
			if len(c.Command) < 2 || c.Command[1] != "manager" {
				t.Errorf("container %s command = %v, want [/aias manager]", c.Name, c.Command)
			}
			setContainerEnv(t, c)
			o, err := ParseFlags(c.Args)
			if err != nil {
				t.Errorf("container %s args %v: %v", c.Name, c.Args, err)
				continue
			}
			if o.StepTokenKeyFile != stepTokenKeyFile {
				t.Errorf("container %s: --step-token-key-file = %q, want %q", c.Name, o.StepTokenKeyFile, stepTokenKeyFile)
			}
			checkStepTokenMount(t, d, c, o.StepTokenKeyFile)
		}
	}
	if !found {
		t.Fatal("no Deployment container in config/manager/manager.yaml")
	}
}

// The install as kustomize renders it: step pods run the manager's own image, and the
// internal API URL the manager hands to step pods names the webhookserver's internal Service.
func TestConfigDefaultRunnerImageAndInternalAPI(t *testing.T) {
	rendered := testenv.Kustomize(t, "default")
	containerOf := func(name string) *corev1.Container {
		var d appsv1.Deployment
		rendered.Get(t, "Deployment", name, &d)
		if len(d.Spec.Template.Spec.Containers) != 1 {
			t.Fatalf("%s has %d containers, want 1", d.Name, len(d.Spec.Template.Spec.Containers))
		}
		return &d.Spec.Template.Spec.Containers[0]
	}
	manager, webhookserver := containerOf("aias-manager"), containerOf("aias-webhookserver")
	internal := &corev1.Service{}
	rendered.Get(t, "Service", "aias-internal", internal)
	setContainerEnv(t, *manager)
	o, err := ParseFlags(manager.Args)
	if err != nil {
		t.Fatalf("rendered manager args %v: %v", manager.Args, err)
	}
	if o.RunnerImage != manager.Image || webhookserver.Image != manager.Image {
		t.Errorf("images: manager %q, --runner-image %q, webhookserver %q; want one image", manager.Image, o.RunnerImage, webhookserver.Image)
	}
	// Until the installer exposes Service aias-hooks and says where (a patch documented in
	// config/default/kustomization.yaml), WebhookEndpoint status.url is a path.
	if o.PublicBaseURL != "" {
		t.Errorf("config/default passes --public-base-url=%s; the default install must leave it unset", o.PublicBaseURL)
	}
	// Admission is on, with the certificate the manager generates (no cert-manager).
	if !o.AdmissionWebhooks || !o.AdmissionCerts.Rotate {
		t.Errorf("config/default manager args %v: want --admission-webhooks with the certificate rotator", manager.Args)
	}
	if strings.HasPrefix(manager.Image, "aias") {
		t.Errorf("manager image %q: the images: entry was not applied", manager.Image)
	}
	u, err := url.Parse(o.InternalAPIURL)
	if err != nil {
		t.Fatal(err)
	}
	if want := internal.Name + "." + internal.Namespace + ".svc"; u.Hostname() != want {
		t.Errorf("--internal-api-url host %q, want %q", u.Hostname(), want)
	}
	portOK := false
	for _, p := range internal.Spec.Ports {
		if p.Name == "internal" && u.Port() == strconv.Itoa(int(p.Port)) {
			portOK = true
		}
	}
	if !portOK {
		t.Errorf("--internal-api-url %q does not use the port named internal of Service %s: %+v", o.InternalAPIURL, internal.Name, internal.Spec.Ports)
	}
}

func readDeployments(t *testing.T, path string) []appsv1.Deployment {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var deps []appsv1.Deployment
	for _, doc := range strings.Split(string(raw), "\n---") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" {
			continue
		}
		deps = append(deps, d)
	}
	return deps
}

// setContainerEnv sets the environment the container gets: literal values as written, a
// dummy for values from Secrets. AIAS_DATABASE_URL must come from the installer's Secret.
func setContainerEnv(t *testing.T, c corev1.Container) {
	t.Helper()
	dbFromSecret := false
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			t.Setenv(e.Name, "dummy-from-secret-"+ref.Name+"-"+ref.Key)
			if e.Name == "AIAS_DATABASE_URL" && ref.Name == databaseSecret && ref.Key == databaseSecretKey {
				dbFromSecret = true
			}
		case e.ValueFrom == nil:
			t.Setenv(e.Name, e.Value)
		}
	}
	if !dbFromSecret {
		t.Errorf("container %s: env AIAS_DATABASE_URL does not come from Secret %s key %s", c.Name, databaseSecret, databaseSecretKey)
	}
}

// checkStepTokenMount asserts keyFile is the key of Secret aias-step-token-key, mounted read-only.
func checkStepTokenMount(t *testing.T, d appsv1.Deployment, c corev1.Container, keyFile string) {
	t.Helper()
	for _, m := range c.VolumeMounts {
		if m.MountPath != filepath.Dir(keyFile) {
			continue
		}
		if !m.ReadOnly {
			t.Errorf("container %s: mount %s is not read-only", c.Name, m.MountPath)
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			if v.Secret == nil || v.Secret.SecretName != stepTokenSecret {
				t.Fatalf("volume %s is not Secret %s: %+v", v.Name, stepTokenSecret, v.VolumeSource)
			}
			path := stepTokenSecretKey // without items, every key is a file of its name
			if len(v.Secret.Items) > 0 {
				path = ""
				for _, it := range v.Secret.Items {
					if it.Key == stepTokenSecretKey {
						path = it.Path
					}
				}
			}
			if path != filepath.Base(keyFile) {
				t.Errorf("volume %s puts key %q at %q, want %q", v.Name, stepTokenSecretKey, path, filepath.Base(keyFile))
			}
			return
		}
		t.Fatalf("container %s: mount %s names no volume", c.Name, m.MountPath)
	}
	t.Errorf("container %s: nothing mounted at %s for --step-token-key-file=%s", c.Name, filepath.Dir(keyFile), keyFile)
}

// The admission webhooks as kustomize renders them, in config/default (the manager's own
// certificate rotator) and in the overlay config/admission (cert-manager): the manager
// serves them (--admission-webhooks, flags that parse) on the container port
// webhook-server 9443 with the certificate Secret mounted read-only where
// controller-runtime reads it; the Service, the webhook configuration and, for the
// rotator, the Secret and the RBAC that lets the manager update exactly those two match
// its flags; for cert-manager, the Certificate writes the mounted Secret.
func TestConfigAdmission(t *testing.T) {
	for _, tc := range []struct {
		dir    string
		rotate bool
	}{{"default", true}, {"admission", false}} {
		t.Run(tc.dir, func(t *testing.T) { checkAdmissionConfig(t, tc.dir, tc.rotate) })
	}
}

func checkAdmissionConfig(t *testing.T, dir string, rotate bool) {
	const certDir = "/tmp/k8s-webhook-server/serving-certs"
	rendered := testenv.Kustomize(t, dir)
	manager, svc := &appsv1.Deployment{}, &corev1.Service{}
	rendered.Get(t, "Deployment", "aias-manager", manager)
	if len(manager.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("aias-manager has %d containers, want 1", len(manager.Spec.Template.Spec.Containers))
	}
	c := manager.Spec.Template.Spec.Containers[0]
	setContainerEnv(t, c)
	o, err := ParseFlags(c.Args)
	if err != nil {
		t.Fatalf("rendered manager args %v: %v", c.Args, err)
	}
	if !o.AdmissionWebhooks || o.AdmissionCerts.Rotate != rotate {
		t.Errorf("config/%s manager args %v: want --admission-webhooks, certificate rotation %v", dir, c.Args, rotate)
	}
	checkStepTokenMount(t, *manager, c, o.StepTokenKeyFile)
	rendered.Get(t, "Service", o.AdmissionCerts.Service, svc)
	if rendered["ValidatingWebhookConfiguration/"+o.AdmissionCerts.WebhookConfig] == nil {
		t.Errorf("config/%s lacks the ValidatingWebhookConfiguration %s the manager's flags name", dir, o.AdmissionCerts.WebhookConfig)
	}
	if rotate {
		var secret corev1.Secret
		var role, clusterRole rbacv1.ClusterRole
		rendered.Get(t, "Secret", o.AdmissionCerts.Secret, &secret)
		rendered.Get(t, "Role", "aias-manager-webhook-cert", &role)
		rendered.Get(t, "ClusterRole", "aias-manager-webhook-ca", &clusterRole)
		if !grants(role.Rules, "secrets", "update", o.AdmissionCerts.Secret) || grants(role.Rules, "secrets", "update", "another") {
			t.Errorf("Role aias-manager-webhook-cert %+v: want update on Secret %s only", role.Rules, o.AdmissionCerts.Secret)
		}
		if !grants(clusterRole.Rules, "validatingwebhookconfigurations", "update", o.AdmissionCerts.WebhookConfig) ||
			grants(clusterRole.Rules, "validatingwebhookconfigurations", "update", "another") {
			t.Errorf("ClusterRole aias-manager-webhook-ca %+v: want update on %s only", clusterRole.Rules, o.AdmissionCerts.WebhookConfig)
		}
	} else {
		for _, want := range []string{"Certificate/aias-manager-webhook-cert", "Issuer/aias-selfsigned"} {
			if rendered[want] == nil {
				t.Errorf("config/%s lacks %s", dir, want)
			}
		}
		if rendered["Secret/aias-manager-webhook-cert"] != nil {
			t.Errorf("config/%s ships Secret aias-manager-webhook-cert; cert-manager creates it", dir)
		}
	}

	portOK := false
	for _, p := range c.Ports {
		if p.Name == "webhook-server" && p.ContainerPort == int32(o.AdmissionPort) {
			portOK = true
		}
	}
	if !portOK {
		t.Errorf("manager container has no port webhook-server %d: %+v", o.AdmissionPort, c.Ports)
	}
	for _, p := range svc.Spec.Ports {
		if p.Port != 443 || (p.TargetPort.IntValue() != o.AdmissionPort && p.TargetPort.String() != "webhook-server") {
			t.Errorf("Service %s port %+v, want 443 -> %d", svc.Name, p, o.AdmissionPort)
		}
	}

	mounted := false
	for _, m := range c.VolumeMounts {
		if m.MountPath != certDir {
			continue
		}
		mounted = true
		if !m.ReadOnly {
			t.Errorf("mount %s is not read-only", certDir)
		}
		found := false
		for _, v := range manager.Spec.Template.Spec.Volumes {
			if v.Name == m.Name {
				found = true
				if v.Secret == nil || v.Secret.SecretName != o.AdmissionCerts.Secret {
					t.Errorf("volume %s is not Secret %s: %+v", v.Name, o.AdmissionCerts.Secret, v.VolumeSource)
				}
			}
		}
		if !found {
			t.Errorf("mount %s names no volume (%s)", certDir, m.Name)
		}
	}
	if !mounted {
		t.Errorf("nothing mounted at %s: %+v", certDir, c.VolumeMounts)
	}
}

// grants reports whether rules allow verb on the named object of resource.
func grants(rules []rbacv1.PolicyRule, resource, verb, name string) bool {
	for _, r := range rules {
		if slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
			return true
		}
	}
	return false
}
