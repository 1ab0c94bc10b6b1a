package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"k8s.io/client-go/rest"
)

// apiserver writes are counted by kube-apiserver itself: apiserver_request_total on its
// /metrics, scraped before and after a phase. The counter has no client or namespace
// label, so writes are attributed by resource: only the bench creates Runs, only the dev
// kubelet writes Job status, and the rest of what Runs cause is the AIAS controllers'.

// reqKey is one series of apiserver_request_total, summed over version, scope,
// component and dry_run.
type reqKey struct {
	Verb, Group, Resource, Subresource, Code string
}

type reqCounts map[reqKey]float64

// writeVerbs are the verbs that change state; GET, LIST and WATCH are reads.
var writeVerbs = map[string]bool{"POST": true, "PUT": true, "PATCH": true, "APPLY": true, "DELETE": true, "DELETECOLLECTION": true}

func (k reqKey) write() bool { return writeVerbs[k.Verb] }

// what is how a write is shown: "PATCH runs/status", "POST events (events.k8s.io)".
func (k reqKey) what() string {
	s := k.Verb + " " + k.Resource
	if k.Subresource != "" {
		s += "/" + k.Subresource
	}
	if k.Group != "" && k.Group != "aias.dev" && k.Group != "batch" {
		s += " (" + k.Group + ")"
	}
	return s
}

// Who caused a write.
const (
	byBench    = "bench (the Run create)"
	byAIAS     = "AIAS controllers"
	byKubelet  = "dev kubelet (Job status)"
	byExcluded = "excluded"
)

// aiasResources are what the Run and Workflow controllers write; anything else seen
// during a phase is not caused by the Runs (the apiserver's own leases and bookkeeping).
var aiasResources = map[string]bool{
	"aias.dev/runs": true, "aias.dev/runs/status": true, "aias.dev/workflows/status": true,
	"batch/jobs": true, "/secrets": true, "/events": true, "events.k8s.io/events": true,
}

func (k reqKey) by() string {
	res := k.Group + "/" + k.Resource
	if k.Subresource != "" {
		res += "/" + k.Subresource
	}
	switch {
	case res == "aias.dev/runs" && k.Verb == "POST":
		return byBench
	case res == "batch/jobs/status":
		return byKubelet
	case aiasResources[res]:
		return byAIAS
	}
	return byExcluded
}

// scrapeRequests reads apiserver_request_total from kube-apiserver's /metrics.
func scrapeRequests(ctx context.Context, rc rest.Interface) (reqCounts, error) {
	raw, err := rc.Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return nil, fmt.Errorf("scraping kube-apiserver /metrics: %w", err)
	}
	counts := reqCounts{}
	for _, s := range parseSamples(raw, "apiserver_request_total") {
		l := s.labels
		counts[reqKey{l["verb"], l["group"], l["resource"], l["subresource"], l["code"]}] += s.value
	}
	if len(counts) == 0 {
		return nil, fmt.Errorf("kube-apiserver /metrics has no apiserver_request_total")
	}
	return counts, nil
}

// minus is the change from before to c.
func (c reqCounts) minus(before reqCounts) reqCounts {
	d := reqCounts{}
	for k, v := range c {
		if v -= before[k]; v != 0 {
			d[k] = v
		}
	}
	return d
}

// writes sums the writes that by accepts.
func (c reqCounts) writes(by func(reqKey) bool) float64 {
	n := 0.0
	for k, v := range c {
		if k.write() && by(k) {
			n += v
		}
	}
	return n
}

func notExcluded(k reqKey) bool { return k.by() != byExcluded }

// writeLine is one kind of write in a phase: how many, and how many were refused
// with 409 Conflict (stale reads) or another error.
type writeLine struct {
	what, by          string
	n, conflicts, bad float64
}

// breakdown groups a phase's writes by verb and resource, in a stable order: bench,
// AIAS, dev kubelet, excluded, then by name.
func (c reqCounts) breakdown() []writeLine {
	m := map[string]*writeLine{}
	for k, v := range c {
		if !k.write() {
			continue
		}
		l := m[k.what()]
		if l == nil {
			l = &writeLine{what: k.what(), by: k.by()}
			m[k.what()] = l
		}
		l.n += v
		switch {
		case k.Code == "409":
			l.conflicts += v
		case !strings.HasPrefix(k.Code, "2"):
			l.bad += v
		}
	}
	order := map[string]int{byBench: 0, byAIAS: 1, byKubelet: 2, byExcluded: 3}
	var lines []writeLine
	for _, name := range slices.Sorted(maps.Keys(m)) {
		lines = append(lines, *m[name])
	}
	slices.SortStableFunc(lines, func(a, b writeLine) int { return order[a.by] - order[b.by] })
	return lines
}

// reads sums GET and LIST requests by resource, for the log: what the controllers read
// from the apiserver instead of their cache.
func (c reqCounts) reads() map[string]float64 {
	m := map[string]float64{}
	for k, v := range c {
		if k.Verb == "GET" || k.Verb == "LIST" {
			m[k.what()] += v
		}
	}
	return m
}

// sample is one line of the Prometheus text format.
type sample struct {
	labels map[string]string
	value  float64
}

// parseSamples returns the samples of one metric from the Prometheus text format.
func parseSamples(text []byte, name string) []sample {
	var out []sample
	for _, line := range strings.Split(string(text), "\n") {
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" {
			continue
		}
		labels := map[string]string{}
		if rest[0] == '{' {
			var ok bool
			if labels, rest, ok = parseLabels(rest[1:]); !ok {
				continue
			}
		} else if rest[0] != ' ' {
			continue // another metric whose name starts with name
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		out = append(out, sample{labels, v})
	}
	return out
}

// parseLabels reads `k="v",k2="v2"}` and returns the labels and what follows the brace.
func parseLabels(s string) (map[string]string, string, bool) {
	labels := map[string]string{}
	for {
		if s == "" {
			return nil, "", false
		}
		if s[0] == '}' {
			return labels, s[1:], true
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || eq+1 >= len(s) || s[eq+1] != '"' {
			return nil, "", false
		}
		key := s[:eq]
		s = s[eq+2:]
		var b strings.Builder
		i := 0
		for ; i < len(s) && s[i] != '"'; i++ {
			if s[i] == '\\' && i+1 < len(s) {
				i++
				if s[i] == 'n' {
					b.WriteByte('\n')
					continue
				}
			}
			b.WriteByte(s[i])
		}
		if i >= len(s) {
			return nil, "", false
		}
		labels[key] = b.String()
		s = strings.TrimPrefix(s[i+1:], ",")
	}
}
