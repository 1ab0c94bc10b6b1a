package stepcsi

import (
	"context"
	"fmt"

	registerapi "k8s.io/kubelet/pkg/apis/pluginregistration/v1"

	"github.com/aias-dev/aias/internal/stepjob"
)

// registration answers the kubelet's plugin watcher, which finds the registration socket
// in plugins_registry, asks what it is (a CSI plugin, its name and CSI socket) and says
// whether registering it worked.
type registration struct {
	registerapi.UnimplementedRegistrationServer
	cfg Config
}

func (r *registration) GetInfo(context.Context, *registerapi.InfoRequest) (*registerapi.PluginInfo, error) {
	return &registerapi.PluginInfo{
		Type:              registerapi.CSIPlugin,
		Name:              stepjob.RuntimeDriver,
		Endpoint:          r.cfg.csiSocket(),
		SupportedVersions: []string{"1.0.0"},
	}, nil
}

func (r *registration) NotifyRegistrationStatus(_ context.Context, s *registerapi.RegistrationStatus) (*registerapi.RegistrationStatusResponse, error) {
	if !s.PluginRegistered {
		r.cfg.Logf("the kubelet did not register %s: %s", stepjob.RuntimeDriver, s.Error)
		return &registerapi.RegistrationStatusResponse{}, fmt.Errorf("not registered: %s", s.Error)
	}
	r.cfg.Logf("registered with the kubelet")
	return &registerapi.RegistrationStatusResponse{}, nil
}
