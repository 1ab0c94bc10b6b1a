package cli

import (
	"github.com/KimMachineGun/automemlimit/memlimit"
)

// memoryHeadroom is the share of the container's memory limit the Go heap may grow to
// before the garbage collector works to stay under it: without a GOMEMLIMIT the heap
// may reach twice what is live (GOGC=100) and the kernel kills the container first.
const memoryHeadroom = 0.8

// setMemoryLimit sets the Go runtime's soft memory limit to memoryHeadroom of the
// cgroup's memory limit (the container's, from the chart's resources.limits.memory), for
// the long-running roles (manager, webhookserver). GOMEMLIMIT in the environment wins;
// AUTOMEMLIMIT=off turns it off; without a cgroup limit nothing changes.
func setMemoryLimit() {
	_, _ = memlimit.Set(memlimit.WithRatio(memoryHeadroom), memlimit.WithProvider(memlimit.FromCgroup))
}
