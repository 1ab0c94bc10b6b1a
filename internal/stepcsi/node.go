package stepcsi

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/container-storage-interface/spec/lib/go/csi"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steprun"
)

// node is the CSI node service: publishing a volume writes the step runtime into the
// target directory the kubelet names; unpublishing removes the directory.
type node struct {
	csi.UnimplementedNodeServer
	cfg Config
}

func (n *node) NodePublishVolume(_ context.Context, req *csi.NodePublishVolumeRequest) (*csi.NodePublishVolumeResponse, error) {
	target, err := n.target(req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	if req.GetVolumeCapability().GetMount() == nil {
		return nil, status.Error(codes.InvalidArgument, "the step runtime is a filesystem volume: use it as a mount, not a block device")
	}
	if !req.GetReadonly() {
		return nil, status.Errorf(codes.InvalidArgument, "the %s volume is read-only: set readOnly: true on the csi volume", stepjob.RuntimeDriver)
	}
	if err := n.publish(target); err != nil {
		return nil, status.Errorf(codes.Internal, "writing the step runtime: %v", err)
	}
	return &csi.NodePublishVolumeResponse{}, nil
}

// publish writes a fresh copy of the runtime as target/aias-step (mode 0555), whole or
// not at all (steprun.CopyFile), so a retried publish is harmless and no Pod ever runs a
// partly written runtime. Each volume gets its own copy: a Pod that could write to its
// copy (as root) changes nothing another Pod runs.
func (n *node) publish(target string) error {
	if err := os.MkdirAll(target, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(target, 0o755); err != nil { // whatever umask the directory got
		return err
	}
	return steprun.CopyFile(n.cfg.Source, filepath.Join(target, filepath.Base(stepjob.RunnerPath)), 0o555)
}

func (n *node) NodeUnpublishVolume(_ context.Context, req *csi.NodeUnpublishVolumeRequest) (*csi.NodeUnpublishVolumeResponse, error) {
	target, err := n.target(req.GetTargetPath())
	if err != nil {
		return nil, err
	}
	if err := os.RemoveAll(target); err != nil {
		return nil, status.Errorf(codes.Internal, "removing the step runtime: %v", err)
	}
	return &csi.NodeUnpublishVolumeResponse{}, nil
}

// target is the request's target path, which must lie under the kubelet's pods
// directory: the socket is the kubelet's alone, but a path elsewhere is never written to
// or removed, whoever asks.
func (n *node) target(path string) (string, error) {
	if path == "" {
		return "", status.Error(codes.InvalidArgument, "no target path")
	}
	clean := filepath.Clean(path)
	pods := n.cfg.podsDir() + string(filepath.Separator)
	if !filepath.IsAbs(clean) || !strings.HasPrefix(clean, pods) {
		return "", status.Errorf(codes.InvalidArgument, "target path %q is not under the kubelet's pods directory %s", path, n.cfg.podsDir())
	}
	return clean, nil
}

func (n *node) NodeGetCapabilities(context.Context, *csi.NodeGetCapabilitiesRequest) (*csi.NodeGetCapabilitiesResponse, error) {
	return &csi.NodeGetCapabilitiesResponse{}, nil
}

func (n *node) NodeGetInfo(context.Context, *csi.NodeGetInfoRequest) (*csi.NodeGetInfoResponse, error) {
	return &csi.NodeGetInfoResponse{NodeId: n.cfg.NodeName}, nil
}
