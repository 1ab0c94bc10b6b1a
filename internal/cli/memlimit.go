package cli

import (
	"github.com/KimMachineGun/automemlimit/memlimit"
)

// MemoryHeadroom is the share of the container's memory limit the Go runtime's memory
// (heap, stacks, its own metadata) may grow to before the garbage collector works to stay
// under it: without a GOMEMLIMIT the heap may reach twice what is live (GOGC=100) and the
// kernel kills the container first. The rest is for what the runtime does not count: the
// binary's own pages, which a process's resident set (and its cgroup) also holds —
// about 55 MiB of the webhookserver's RssFile (measured by the noisy-neighbour test, where 0.8
// let the resident set reach 264 MiB of a 256 MiB limit).
const MemoryHeadroom = 0.7

// setMemoryLimit sets the Go runtime's soft memory limit to MemoryHeadroom of the
// cgroup's memory limit (the container's, from the chart's resources.limits.memory), for
// the long-running roles (manager, webhookserver). GOMEMLIMIT in the environment wins;
// AUTOMEMLIMIT=off turns it off; without a cgroup limit nothing changes.
func setMemoryLimit() {
	_, _ = memlimit.Set(memlimit.WithRatio(MemoryHeadroom), memlimit.WithProvider(memlimit.FromCgroup))
}
