package stepcsi

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func testNode(t *testing.T) (*node, string) {
	kubelet := t.TempDir()
	source := filepath.Join(t.TempDir(), "aias-step")
	if err := os.WriteFile(source, []byte("#!runtime"), 0o755); err != nil {
		t.Fatal(err)
	}
	return &node{cfg: Config{NodeName: "n1", KubeletDir: kubelet, Source: source}}, kubelet
}

func publishReq(target string) *csi.NodePublishVolumeRequest {
	return &csi.NodePublishVolumeRequest{
		VolumeId: "csi-abc", TargetPath: target, Readonly: true,
		VolumeCapability: &csi.VolumeCapability{AccessType: &csi.VolumeCapability_Mount{Mount: &csi.VolumeCapability_MountVolume{}}},
	}
}

func TestPublishWritesAReadOnlyCopyAndUnpublishRemovesIt(t *testing.T) {
	n, kubelet := testNode(t)
	target := filepath.Join(kubelet, "pods", "uid-1", "volumes", "kubernetes.io~csi", "aias-bin", "mount")
	for range 2 { // a retried publish is harmless
		if _, err := n.NodePublishVolume(context.Background(), publishReq(target)); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(filepath.Join(target, "aias-step"))
	if err != nil || string(got) != "#!runtime" {
		t.Fatalf("runtime = %q, %v", got, err)
	}
	fi, _ := os.Stat(filepath.Join(target, "aias-step"))
	if fi.Mode().Perm() != 0o555 {
		t.Errorf("mode = %v, want 0555", fi.Mode().Perm())
	}
	entries, _ := os.ReadDir(target)
	if len(entries) != 1 {
		t.Errorf("target holds %d entries, want the runtime alone", len(entries))
	}
	if _, err := n.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{VolumeId: "csi-abc", TargetPath: target}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("target still there after unpublish: %v", err)
	}
}

func TestPublishRefuses(t *testing.T) {
	n, kubelet := testNode(t)
	inPods := filepath.Join(kubelet, "pods", "uid-1", "volumes", "kubernetes.io~csi", "v", "mount")
	for name, mutate := range map[string]func(*csi.NodePublishVolumeRequest){
		"a writable volume":         func(r *csi.NodePublishVolumeRequest) { r.Readonly = false },
		"a block volume":            func(r *csi.NodePublishVolumeRequest) { r.VolumeCapability = &csi.VolumeCapability{} },
		"a path outside pods":       func(r *csi.NodePublishVolumeRequest) { r.TargetPath = filepath.Join(kubelet, "plugins", "x") },
		"a path escaping pods":      func(r *csi.NodePublishVolumeRequest) { r.TargetPath = filepath.Join(kubelet, "pods", "..", "etc") },
		"the pods directory itself": func(r *csi.NodePublishVolumeRequest) { r.TargetPath = filepath.Join(kubelet, "pods") },
		"no path":                   func(r *csi.NodePublishVolumeRequest) { r.TargetPath = "" },
	} {
		t.Run(name, func(t *testing.T) {
			req := publishReq(inPods)
			mutate(req)
			_, err := n.NodePublishVolume(context.Background(), req)
			if status.Code(err) != codes.InvalidArgument {
				t.Fatalf("err = %v, want InvalidArgument", err)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(kubelet, "pods")); !os.IsNotExist(err) {
		t.Errorf("a refused publish wrote something: %v", err)
	}
	_, err := n.NodeUnpublishVolume(context.Background(), &csi.NodeUnpublishVolumeRequest{TargetPath: kubelet})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("unpublish of the kubelet dir: %v, want InvalidArgument", err)
	}
}
