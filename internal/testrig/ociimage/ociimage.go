// Package ociimage builds the container images the one-node cluster tests run, here,
// without a registry: the AIAS image (the Dockerfile's final stage: /aias and the step
// runtime /aias-step, run as uid 65532 on a distroless-like root), a busybox step image from Debian's busybox-static, and a
// sandbox (pause) image. They are written as one docker-save archive that containerd
// imports (`ctr images import`); nothing is pulled from anywhere.
package ociimage

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// BuildFlags are the Dockerfile's `go build` flags for the image's binaries (with
// CGO_ENABLED=0): the tests that run the image build them the same way.
var BuildFlags = []string{"-trimpath", "-tags", "nodev", `-ldflags=-s -w`}

// Packages are the image's binaries, as the Dockerfile builds them: one
// `go build <BuildFlags> -o <dir>/ <Packages>` writes each into dir under its package's
// base name, and the image has each at the root: /aias (stepjob.ImageBinary) and the step
// runtime /aias-step (stepjob.StepImageBinary), which step Pods run.
var Packages = []string{"./cmd/aias", "./cmd/aias-step"}

// NonrootUID is the user of the AIAS image, as distroless' nonroot variant and the
// Dockerfile's USER 65532:65532.
const NonrootUID = 65532

// epoch fixes every file's and config's time, so the same inputs give the same digest.
var epoch = time.Unix(0, 0).UTC()

// file is one entry of a layer.
type file struct {
	path     string // without the leading slash
	mode     int64
	body     []byte
	link     string // symlink target when set
	dir      bool
	uid, gid int
}

// baseFiles are distroless static's: the users root, nobody and nonroot, a sticky /tmp,
// nonroot's home and the CA bundle of this machine (distroless ships Debian's too).
func baseFiles() ([]file, error) {
	fs := []file{
		{path: "etc", dir: true, mode: 0o755},
		{path: "etc/passwd", mode: 0o644, body: []byte("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{path: "etc/group", mode: 0o644, body: []byte("root:x:0:\nnobody:x:65534:\nnonroot:x:65532:\n")},
		{path: "tmp", dir: true, mode: 0o1777},
		{path: "home", dir: true, mode: 0o755},
		{path: "home/nonroot", dir: true, mode: 0o700, uid: NonrootUID, gid: NonrootUID},
		{path: "root", dir: true, mode: 0o700},
	}
	if ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt"); err == nil {
		fs = append(fs, file{path: "etc/ssl", dir: true, mode: 0o755}, file{path: "etc/ssl/certs", dir: true, mode: 0o755},
			file{path: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, body: ca})
	}
	return fs, nil
}

func layer(files []file) (v1.Layer, error) {
	sort.SliceStable(files, func(i, j int) bool { return files[i].path < files[j].path })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.path, Mode: f.mode, Uid: f.uid, Gid: f.gid, ModTime: epoch, Format: tar.FormatPAX}
		switch {
		case f.dir:
			h.Typeflag, h.Name = tar.TypeDir, f.path+"/"
		case f.link != "":
			h.Typeflag, h.Linkname, h.Mode = tar.TypeSymlink, f.link, 0o777
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.body); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil })
}

func image(files []file, cfg v1.Config) (v1.Image, error) {
	l, err := layer(files)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, l)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Created = "amd64", "linux", v1.Time{Time: epoch}
	cf.Config = cfg
	return mutate.ConfigFile(img, cf)
}

// AIAS is the image of the Dockerfile's final stage, with the binaries of Packages that
// `go build -o dir/` wrote into dir (static builds, CGO_ENABLED=0): /aias and /aias-step
// owned by root, run as 65532:65532, no shell.
func AIAS(dir string) (v1.Image, error) {
	fs, err := baseFiles()
	if err != nil {
		return nil, err
	}
	for _, pkg := range Packages {
		name := path.Base(pkg)
		bin, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		fs = append(fs, file{path: name, mode: 0o755, body: bin})
	}
	return image(fs, v1.Config{
		Entrypoint: []string{"/aias"},
		User:       fmt.Sprintf("%d:%d", NonrootUID, NonrootUID),
		WorkingDir: "/home/nonroot",
		Env:        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
	})
}

// BusyboxPath is where Debian's busybox-static installs its binary.
const BusyboxPath = "/bin/busybox"

// Busybox is a step image: the static busybox at BusyboxPath with a /bin link for every
// applet it has (sh, echo, cat, wget, sleep, ...), on the same base as AIAS. It has no
// USER: step pods choose theirs.
func Busybox() (v1.Image, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("%w (install Debian's busybox-static: hack/node.sh does)", err)
	}
	fs, err := baseFiles()
	if err != nil {
		return nil, err
	}
	fs = append(fs, file{path: "bin", dir: true, mode: 0o755}, file{path: "bin/busybox", mode: 0o755, body: bin})
	for _, applet := range busyboxApplets() {
		if applet != "busybox" {
			fs = append(fs, file{path: "bin/" + applet, link: "busybox"})
		}
	}
	return image(fs, v1.Config{
		Cmd: []string{"/bin/sh"},
		Env: []string{"PATH=/bin"},
	})
}

// busyboxApplets are the applets the binary lists, or a fixed few when it cannot say.
func busyboxApplets() []string {
	out, err := execOutput(BusyboxPath, "--list")
	if err != nil || len(out) == 0 {
		return []string{"sh", "echo", "cat", "sleep", "wget", "printf", "ls", "true", "false", "env", "id", "test", "["}
	}
	var list []string
	for _, l := range strings.Fields(string(out)) {
		if !strings.Contains(l, "/") {
			list = append(list, l)
		}
	}
	return list
}

// Pause is the pod sandbox image: containerd starts one sandbox container per pod to
// hold its namespaces, and stops it with SIGKILL, so a sleep that never returns is all it
// needs to do (as the upstream pause image's pause.c does, minus reaping zombies, which
// no step leaves: each container has its own PID namespace).
func Pause() (v1.Image, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return nil, fmt.Errorf("%w (install Debian's busybox-static: hack/node.sh does)", err)
	}
	return image([]file{{path: "bin", dir: true, mode: 0o755}, {path: "bin/busybox", mode: 0o755, body: bin}}, v1.Config{
		Entrypoint: []string{"/bin/busybox", "sleep", "2147483647"},
		User:       "65535:65535",
	})
}

// WriteArchive writes images, by reference (e.g. "aias.local/aias:e2e"), as one
// docker-save tarball at path, which `ctr images import` takes.
func WriteArchive(path string, images map[string]v1.Image) error {
	refs := map[name.Tag]v1.Image{}
	for ref, img := range images {
		tag, err := name.NewTag(ref)
		if err != nil {
			return err
		}
		refs[tag] = img
	}
	return tarball.MultiWriteToFile(path, refs)
}
