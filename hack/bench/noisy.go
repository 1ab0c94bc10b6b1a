package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aias-dev/aias/internal/testsuite/noisy"
)

// noisySection runs the noisy-neighbour scenario (issue 21, internal/testsuite/noisy) on a stack
// of its own: B's latencies alone are the ceiling its latencies under A's flood are set
// against, in the same run on the same control plane, PostgreSQL and webhookserver.
func noisySection(ctx context.Context) (string, error) {
	s, err := noisy.Start(ctx, noisy.Options{Log: os.Stderr})
	if err != nil {
		return "", err
	}
	defer func() { _ = s.Stop() }()
	f, err := noisy.Run(ctx, s, noisy.DefaultSettings())
	if err != nil {
		return "", err
	}
	set := noisy.DefaultSettings()
	return fmt.Sprintf(`## Noisy neighbour (issue 21)

Tenant A floods every shared path a tenant reaches (internal/testsuite/noisy: filtered deliveries at
200/s against its plan's 600 a minute, eight senders of 32 MiB bodies — forged and signed,
declared and chunked — 24 uploads of one step at 2 KB/s, 16 parallel 1 MiB uploads against
its 8 MiB artifactBytesPerRun, 300 log follows and 5000-line log pages) while tenant B
delivers %.0f signed deliveries a second (each a one-step Run) and reads a page of its Runs
through the user API every 100 ms; B is measured %v alone, then %v under the flood. On the
whole product: envtest's control plane with kube-controller-manager, kube-scheduler and
the node agent (step Pods as processes, not containers), PostgreSQL, the manager, and
`+"`aias webhookserver`"+` as its own process with the Go memory limit it sets in the chart's
256 MiB container. The test of the same package asserts what the figures show: B loses
nothing, B's p99 stays within twice its p99 alone (against a floor of 50 ms), the
webhookserver stays under 256 MiB.

%s`, set.DeliveriesPerSecond, set.Baseline, set.Flood, f.Report()), nil
}
