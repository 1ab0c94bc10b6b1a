package testenv

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// Manifests are the objects a kustomization renders, by "Kind/name".
type Manifests map[string][]byte

// Kustomize renders config/<dir> of the checkout with the kubectl built for envtest, as
// an installer would (`kubectl kustomize`).
func Kustomize(t testing.TB, dir string) Manifests {
	t.Helper()
	assets, err := AssetsDir()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(assets, "kubectl"), "kustomize", filepath.Join(RepoRoot(), "config", dir))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kubectl kustomize config/%s: %v\n%s", dir, err, stderr.String())
	}
	m := Manifests{}
	for _, doc := range strings.Split(stdout.String(), "\n---") {
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatal(err)
		}
		if meta.Kind != "" {
			m[meta.Kind+"/"+meta.Metadata.Name] = []byte(doc)
		}
	}
	return m
}

// Get decodes the object kind/name into obj, failing the test when it was not rendered.
func (m Manifests) Get(t testing.TB, kind, name string, obj any) {
	t.Helper()
	doc, ok := m[kind+"/"+name]
	if !ok {
		t.Fatalf("the rendered manifests lack %s/%s", kind, name)
	}
	if err := yaml.Unmarshal(doc, obj); err != nil {
		t.Fatalf("%s/%s: %v", kind, name, err)
	}
}
