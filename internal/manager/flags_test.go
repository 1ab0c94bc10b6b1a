package manager

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/aias-dev/aias/internal/testenv"
)

// The Deployment in config/manager must only pass flags the manager knows, or a kustomize
// install would crash-loop on an unknown flag.
func TestConfigManagerArgsParse(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "manager", "manager.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, doc := range strings.Split(string(raw), "\n---") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil || d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			found = true
			if len(c.Command) < 2 || c.Command[1] != "manager" {
				t.Errorf("container %s command = %v, want [/aias manager]", c.Name, c.Command)
			}
			if _, err := ParseFlags(c.Args); err != nil {
				t.Errorf("container %s args %v: %v", c.Name, c.Args, err)
			}
		}
	}
	if !found {
		t.Fatal("no Deployment container in config/manager/manager.yaml")
	}
}
