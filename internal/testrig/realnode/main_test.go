package realnode

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/go-logr/logr"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// cluster is what TestMain started, for every test of the package.
var cluster *Cluster

func TestMain(m *testing.M) { os.Exit(run(m)) }

func run(m *testing.M) int {
	// The envtest control plane logs through controller-runtime; its lines are noise here.
	ctrllog.SetLogger(logr.Discard())
	logf := func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	c, err := Start(ctx, logf)
	if err != nil {
		logf("realnode: setting up the cluster: %v", err)
		return 1
	}
	cluster = c
	code := m.Run()
	if code != 0 {
		logf("%s", c.Node.Logs(40))
		c.DumpPodLogs()
	}
	c.Stop()
	return code
}
