package controllers

import (
	"context"
	"io"
	"os"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// startTestManager starts a manager on the package's control plane with what every
// controller test needs: the test scheme, no metrics or probe listeners, logs only when
// AIAS_TEST_LOGS is set, and controller names that tests may register again. tweak
// adjusts the options (cache scope, uncached kinds); setup registers indexes and
// controllers before the start. It returns once the cache has synced; stop (also run when
// the test ends) stops the manager and waits for it.
func startTestManager(t *testing.T, tweak func(*ctrl.Options), setup func(context.Context, manager.Manager) error) (mgr manager.Manager, stop func()) {
	t.Helper()
	logOut := io.Discard
	if os.Getenv("AIAS_TEST_LOGS") != "" {
		logOut = os.Stderr
	}
	opts := ctrl.Options{
		Scheme:                 scheme.Scheme,
		Logger:                 zap.New(zap.UseDevMode(true), zap.WriteTo(logOut)),
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
		// Tests register controllers of the same names again in this process.
		Controller: config.Controller{SkipNameValidation: ptr.To(true)},
	}
	if tweak != nil {
		tweak(&opts)
	}
	mgr, err := ctrl.NewManager(testEnv.Config, opts)
	if err != nil {
		t.Fatalf("creating manager: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if err := setup(ctx, mgr); err != nil {
		cancel()
		t.Fatalf("setting up the manager: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("manager: %v", err)
				}
			case <-time.After(30 * time.Second):
				t.Errorf("manager did not stop within 30s")
			}
		})
	}
	t.Cleanup(stop)
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		t.Fatalf("cache did not sync")
	}
	return mgr, stop
}
