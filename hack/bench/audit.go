package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// apiserver writes are counted from kube-apiserver's own audit log (testenv's AuditLog:
// one event per write request at level Metadata), which names the client's user agent:
// so every write is put down to its writer — the bench's creates, the AIAS manager, the
// node agent standing in for the kubelet, kube-scheduler and kube-controller-manager —
// and to its resource.

// Writers, by user agent.
const (
	writerBench      = "bench (Run creates)"
	writerAIAS       = "AIAS manager"
	writerScheduler  = "kube-scheduler"
	writerController = "kube-controller-manager"
	writerKubelet    = "node agent (kubelet)"
	writerOther      = "other"
)

// User agents the bench gives its own clients.
const (
	uaBench     = "aias-bench"
	uaManager   = "aias-manager"
	uaNodeAgent = "aias-node-agent"
)

func writerOf(ua string) string {
	switch {
	case strings.HasPrefix(ua, uaBench):
		return writerBench
	case strings.HasPrefix(ua, uaManager):
		return writerAIAS
	case strings.HasPrefix(ua, uaNodeAgent):
		return writerKubelet
	case strings.HasPrefix(ua, "kube-scheduler"):
		return writerScheduler
	case strings.HasPrefix(ua, "kube-controller-manager"):
		return writerController
	}
	return writerOther
}

// writeKey is one kind of write: who, what ("create pods", "update jobs/status").
type writeKey struct{ writer, what string }

// writeTally counts writes, and how many of them the apiserver refused with 409.
type writeTally struct {
	n, conflicts map[writeKey]float64
}

type auditEvent struct {
	Verb      string `json:"verb"`
	UserAgent string `json:"userAgent"`
	ObjectRef *struct {
		Resource    string `json:"resource"`
		Subresource string `json:"subresource"`
		APIGroup    string `json:"apiGroup"`
	} `json:"objectRef"`
	ResponseStatus *struct {
		Code int `json:"code"`
	} `json:"responseStatus"`
}

// auditLog reads the audit events written since the last mark.
type auditLog struct {
	path   string
	offset int64
}

// mark starts a new window at the log's current end.
func (a *auditLog) mark() error {
	fi, err := os.Stat(a.path)
	if err != nil {
		return err
	}
	a.offset = fi.Size()
	return nil
}

// since tallies the writes logged after the mark.
func (a *auditLog) since() (writeTally, error) {
	t := writeTally{n: map[writeKey]float64{}, conflicts: map[writeKey]float64{}}
	f, err := os.Open(a.path)
	if err != nil {
		return t, err
	}
	defer f.Close()
	if _, err := f.Seek(a.offset, io.SeekStart); err != nil {
		return t, err
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e auditEvent
		if json.Unmarshal(sc.Bytes(), &e) != nil || e.ObjectRef == nil {
			continue
		}
		res := e.ObjectRef.Resource
		if e.ObjectRef.Subresource != "" {
			res += "/" + e.ObjectRef.Subresource
		}
		if g := e.ObjectRef.APIGroup; g != "" && g != "aias.dev" && g != "batch" {
			res += " (" + g + ")"
		}
		k := writeKey{writerOf(e.UserAgent), e.Verb + " " + res}
		t.n[k]++
		if e.ResponseStatus != nil && e.ResponseStatus.Code == 409 {
			t.conflicts[k]++
		}
	}
	return t, sc.Err()
}

// background writes happen whether Runs come or not: the node's heartbeat, the
// apiserver's and controllers' own bookkeeping. They are shown apart, never per Run.
func (k writeKey) background() bool {
	return k.writer == writerOther || strings.Contains(k.what, "leases") || strings.HasSuffix(k.what, "nodes/status") ||
		strings.HasSuffix(k.what, " nodes")
}

// total sums the writes keep accepts.
func (t writeTally) total(keep func(writeKey) bool) float64 {
	n := 0.0
	for k, v := range t.n {
		if keep(k) {
			n += v
		}
	}
	return n
}

func runCaused(k writeKey) bool { return !k.background() }

func byWriter(w string) func(writeKey) bool {
	return func(k writeKey) bool { return k.writer == w && !k.background() }
}

// keys lists the kinds of write in a stable order: by writer, then by what.
func (t writeTally) keys() []writeKey {
	rank := map[string]int{writerBench: 0, writerAIAS: 1, writerScheduler: 2, writerKubelet: 3, writerController: 4, writerOther: 5}
	keys := slices.Collect(maps.Keys(t.n))
	slices.SortFunc(keys, func(a, b writeKey) int {
		if d := rank[a.writer] - rank[b.writer]; d != 0 {
			return d
		}
		return strings.Compare(a.what, b.what)
	})
	return keys
}

func (t writeTally) describe(k writeKey, per float64) string {
	s := fmt.Sprintf("%.2f", t.n[k]/per)
	if c := t.conflicts[k]; c > 0 {
		s += fmt.Sprintf(" (%.2f refused with 409)", c/per)
	}
	return s
}
