package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// cpuSample is the CPU time (user + system) each process group has used so far. On a
// 2-core machine every process of the path shares the same cores, so where a rate is
// CPU-bound its bound is cores ÷ CPU-seconds per item, and the CPU each group spends per
// item says which one to cut.
type cpuSample map[string]time.Duration

// cpuGroups names the processes a phase is charged to, by /proc/<pid>/comm. "bench" is
// this process: the clients and, for the hooks section, the webhook server in it.
var cpuGroups = map[string]string{
	"kube-apiserver": "apiserver",
	"etcd":           "etcd",
	"postgres":       "postgres",
}

// clockTicks is USER_HZ, which Linux fixes at 100 for /proc/<pid>/stat.
const clockTicks = 100

func sampleCPU() cpuSample { return sampleCPUOf(cpuGroups, false) }

// sampleCPUOf is sampleCPU over the groups given; with children, a process's reaped
// children count too (a containerd shim's runc calls, the kubelet's mounts), so
// short-lived helpers that end between two samples are not lost.
func sampleCPUOf(groups map[string]string, children bool) cpuSample {
	s := cpuSample{}
	self := strconv.Itoa(os.Getpid())
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, dir := range dirs {
		pid := filepath.Base(dir)
		group := "bench"
		if pid != self {
			comm, err := os.ReadFile(filepath.Join(dir, "comm"))
			if err != nil {
				continue
			}
			g, ok := groups[strings.TrimSpace(string(comm))]
			if !ok {
				continue
			}
			group = g
		}
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised comm, which may itself hold spaces.
		rest := string(stat)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		f := strings.Fields(rest)
		if len(f) < 13 {
			continue
		}
		utime, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		ticks := utime + stime
		if children && len(f) >= 15 {
			cutime, _ := strconv.ParseInt(f[13], 10, 64)
			cstime, _ := strconv.ParseInt(f[14], 10, 64)
			ticks += cutime + cstime
		}
		s[group] += time.Duration(ticks) * time.Second / clockTicks
	}
	return s
}

// machineBusy is the CPU time every core of the machine has spent not idle since boot
// (/proc/stat's first line: all but idle and iowait), so a phase's share of the machine
// is machineBusy's growth over its wall time × cores.
func machineBusy() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var busy int64
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return time.Duration(busy) * time.Second / clockTicks
}

// cpuPerItem is the CPU each group spent between before and after, per item.
type cpuPerItem map[string]time.Duration

func (after cpuSample) since(before cpuSample, items int) cpuPerItem {
	out := cpuPerItem{}
	for g, d := range after {
		if used := d - before[g]; used > 0 {
			out[g] = used / time.Duration(items)
		}
	}
	return out
}

func (c cpuPerItem) total() time.Duration {
	var t time.Duration
	for _, d := range c {
		t += d
	}
	return t
}

// String reads like "apiserver 1.20 ms, bench 0.80 ms, …, total 3.10 ms".
func (c cpuPerItem) String() string {
	groups := make([]string, 0, len(c))
	for g := range c {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	var b strings.Builder
	for _, g := range groups {
		fmt.Fprintf(&b, "%s %.2f ms, ", g, ms(c[g]))
	}
	fmt.Fprintf(&b, "total %.2f ms", ms(c.total()))
	return b.String()
}
