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
	"sigs.k8s.io/yaml"

	"github.com/aias-dev/aias/internal/testenv"
)

// The aias-webhookserver Deployment in config/webhookserver must only pass flags the
// webhookserver knows, and with the environment it sets (the database URL from the Secret
// aias-database) the flags must be complete; the step-token key must be the mounted Secret
// aias-step-token-key (the manager's key), and the internal API must listen on the port the
// aias-internal Service targets.
func TestConfigWebhookServerArgsParse(t *testing.T) {
	const (
		keyFile   = "/etc/aias/step-token/key"
		keySecret = "aias-step-token-key"
		keyKey    = "key"
	)
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "webhookserver", "webhookserver.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var dep *appsv1.Deployment
	for _, doc := range strings.Split(string(raw), "\n---") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err == nil && d.Kind == "Deployment" && d.Name == "aias-webhookserver" {
			dep = &d
		}
	}
	if dep == nil || len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatal("config/webhookserver/webhookserver.yaml has no single-container Deployment aias-webhookserver")
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

	_, port, err := net.SplitHostPort(o.InternalAddr)
	if err != nil {
		t.Fatal(err)
	}
	portOK := false
	for _, p := range c.Ports {
		portOK = portOK || (p.Name == "internal" && strconv.Itoa(int(p.ContainerPort)) == port)
	}
	if !portOK {
		t.Errorf("--internal-bind-address %q is not the container port named internal: %+v", o.InternalAddr, c.Ports)
	}
}
