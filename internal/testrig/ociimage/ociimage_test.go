package ociimage

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/aias-dev/aias/internal/stepjob"
)

// files lists an image's flattened filesystem: path → header.
func files(t *testing.T, img v1.Image) map[string]*tar.Header {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Clean("/"+h.Name)] = h
	}
}

// The AIAS image has what the Dockerfile's final stage (distroless static:nonroot plus
// /aias and /aias-step) has, and runs as it does: uid 65532, entrypoint /aias, no shell.
func TestAIASImageIsTheDockerfilesFinalStage(t *testing.T) {
	bin := t.TempDir() // as `go build -o bin/ ./cmd/aias ./cmd/aias-step` leaves it
	for _, name := range []string{"aias", "aias-step"} {
		if err := os.WriteFile(filepath.Join(bin, name), []byte("#!binary "+name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img, err := AIAS(bin)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.Config.User != "65532:65532" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/aias" || cf.OS != "linux" {
		t.Fatalf("config: user %q entrypoint %q os %q", cf.Config.User, cf.Config.Entrypoint, cf.OS)
	}
	fs := files(t, img)
	// The Run controller's step Pods run stepjob.StepImageBinary from this image.
	for _, p := range []string{stepjob.ImageBinary, stepjob.StepImageBinary} {
		if h := fs[p]; h == nil || h.Mode&0o111 == 0 || h.Uid != 0 {
			t.Fatalf("%s: %+v", p, h)
		}
	}
	if h := fs["/tmp"]; h == nil || h.Mode&0o1777 != 0o1777 {
		t.Fatalf("/tmp must be world-writable and sticky: %+v", h)
	}
	if h := fs["/home/nonroot"]; h == nil || h.Uid != NonrootUID {
		t.Fatalf("/home/nonroot: %+v", h)
	}
	for _, p := range []string{"/etc/passwd", "/etc/group"} {
		if fs[p] == nil {
			t.Fatalf("%s missing", p)
		}
	}
	for _, shell := range []string{"/bin/sh", "/bin/busybox", "/bin/bash"} {
		if fs[shell] != nil {
			t.Fatalf("%s in the AIAS image: the final stage has no shell", shell)
		}
	}
	again, err := AIAS(bin)
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := img.Digest()
	d2, _ := again.Digest()
	if d1 != d2 {
		t.Fatalf("the same inputs gave two digests: %s, %s", d1, d2)
	}
}

func TestArchiveHoldsEveryImage(t *testing.T) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		t.Skipf("%s missing (Debian's busybox-static, installed by hack/node.sh)", BusyboxPath)
	}
	b, err := Busybox()
	if err != nil {
		t.Fatal(err)
	}
	if fs := files(t, b); fs["/bin/sh"] == nil || fs["/bin/sh"].Linkname != "busybox" || fs["/bin/wget"] == nil {
		t.Fatalf("busybox applets not linked: sh %+v", fs["/bin/sh"])
	}
	p, err := Pause()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "images.tar")
	if err := WriteArchive(path, map[string]v1.Image{"aias.local/busybox:t": b, "aias.local/pause:t": p}); err != nil {
		t.Fatal(err)
	}
	m, err := tarball.LoadManifest(func() (io.ReadCloser, error) { return os.Open(path) })
	if err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, d := range m {
		tags = append(tags, d.RepoTags...)
	}
	if len(tags) != 2 {
		t.Fatalf("archive tags %q", tags)
	}
}

// The image's binaries are built as the Dockerfile builds them and copied where it
// copies them, and that build links no test library: envtest's package init writes
// under /tmp and panics on a read-only root.
func TestBuildFlagsAreTheDockerfiles(t *testing.T) {
	df, err := os.ReadFile("../../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	// BuildFlags as the Dockerfile's shell line spells them: -ldflags="-s -w".
	want := []string{"go", "build"}
	for _, f := range BuildFlags {
		if k, v, ok := strings.Cut(f, "="); ok && strings.Contains(v, " ") {
			f = k + `="` + v + `"`
		}
		want = append(want, f)
	}
	want = append(append(want, "-o", "/out/"), Packages...)
	if line := strings.Join(want, " "); !strings.Contains(string(df), line) {
		t.Fatalf("the Dockerfile no longer builds with %s: keep BuildFlags, Packages and the Dockerfile in step", line)
	}
	copyLine := "COPY --from=builder"
	for _, pkg := range Packages {
		copyLine += " /out/" + path.Base(pkg)
	}
	if copyLine += " /"; !strings.Contains(string(df), copyLine) {
		t.Fatalf("the Dockerfile's final stage no longer has %q: AIAS puts Packages at the image's root", copyLine)
	}
	tags := slices.Index(BuildFlags, "-tags")
	if tags < 0 {
		t.Fatal("BuildFlags set no -tags: the image's binary would link `aias dev` and envtest")
	}
	args := append([]string{"list", "-deps"}, BuildFlags[tags:tags+2]...)
	for _, pkg := range Packages {
		args = append(args, "../../../"+strings.TrimPrefix(pkg, "./"))
	}
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "controller-runtime/pkg/envtest") || strings.Contains(pkg, "/internal/testing/") || strings.HasSuffix(pkg, "/internal/testenv") {
			t.Errorf("the image's binaries link %s", pkg)
		}
	}
}

// The step runtime, which every step Pod copies and runs beside the step's command,
// links the step contract, step-run and the standard library only: none of the aias
// binary's Kubernetes client, controller-runtime, API scheme, database driver or CEL,
// which make that binary ten times the size, its start slow and its resident memory
// what the step's memory limit would have to hold too (docs/architecture.md).
func TestStepRuntimeLinksOnlyStepRun(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", "../../../cmd/aias-step").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		"github.com/aias-dev/aias/cmd/aias-step":    true,
		"github.com/aias-dev/aias/internal/steprun": true,
		"github.com/aias-dev/aias/internal/stepjob": true,
	}
	for _, pkg := range strings.Fields(string(out)) {
		if !allowed[pkg] {
			t.Errorf("aias-step links %s: the step runtime is internal/steprun, internal/stepjob and the standard library", pkg)
		}
	}
	if !slices.Contains(Packages, "./cmd/aias-step") {
		t.Errorf("Packages %q leave the step runtime out of the image", Packages)
	}
}
