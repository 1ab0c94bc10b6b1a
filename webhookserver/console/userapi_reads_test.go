package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver"
	"github.com/aias-dev/aias/webhookserver/console"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// sseEvent is one server-sent event: its type and data.
type sseEvent struct{ typ, data string }

// readEvents reads resp's event stream; the channel closes when the stream does.
func readEvents(resp *http.Response) <-chan sseEvent {
	events := make(chan sseEvent, 1000)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var ev sseEvent
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "event: "):
				ev.typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case line == "" && ev.typ != "":
				events <- ev
				ev = sseEvent{}
			}
		}
	}()
	return events
}

// nextEvent waits up to d for the stream's next event of type typ (others are skipped);
// ok is false when the stream closed first.
func nextEvent(t *testing.T, events <-chan sseEvent, typ string, d time.Duration) (sseEvent, bool) {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return sseEvent{}, false
			}
			if ev.typ == typ {
				return ev, true
			}
		case <-deadline:
			t.Fatalf("no %q event within %v", typ, d)
		}
	}
}

// openFollow starts following a Run's logs as token; cancel ends the request.
func (e *userEnv) openFollow(token, ns, run string) (*http.Response, func()) {
	e.t.Helper()
	ctx, stop := context.WithCancel(e.ctx)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.url+"/api/v1/namespaces/"+ns+"/runs/"+run+"/logs?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		stop()
		e.t.Fatal(err)
	}
	cancel := func() { stop(); resp.Body.Close() }
	e.t.Cleanup(cancel)
	return resp, cancel
}

// setAttempts gives each of the Run's steps n attempts.
func (e *userEnv) setAttempts(run *aiasv1alpha1.Run, n int32) {
	e.t.Helper()
	for i := range run.Status.Steps {
		run.Status.Steps[i].Attempts = n
	}
	if err := e.c.Status().Update(e.ctx, run); err != nil {
		e.t.Fatal(err)
	}
}

// A log page over a Run of many step attempts holds at most `limit` lines and at most
// userapi.MaxLogPageBytes of line text, and paging with its cursor hands every line
// exactly once, each stream's lines in sequence order, a stream whose clock runs backwards
// included. Reproduces, on main (16ef044), a page of 4.8 MB: the limit was applied per
// stream of each attempt and nothing bounded the bytes, so one request read 18 × limit
// lines of up to 64 KiB into memory.
func TestUserAPILogPageBoundedByLimitAndBytes(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("logpage")
	e.namespace(ns)
	viewer := e.member(ns, "viewer", "viewer")
	run := e.seedRun(ns, "many", aiasv1alpha1.RunSucceeded)
	e.setAttempts(run, 3)

	const perStream = 40
	base := time.Now().Add(-time.Hour)
	total := 0
	for _, step := range []string{"a", "b"} {
		for attempt := 1; attempt <= 3; attempt++ {
			var lines []stepjob.LogLine
			for si, stream := range store.LogStreams {
				n := perStream
				if step == "a" && attempt == 3 && stream == stepjob.StreamSystem {
					n = 80 // 80 lines of 60 KiB: 4.8 MB in one stream
				}
				for seq := 1; seq <= n; seq++ {
					ts := base.Add(time.Duration(seq*10+si) * time.Millisecond)
					if step == "b" && attempt == 2 && stream == stepjob.StreamStderr {
						ts = base.Add(time.Duration((n-seq)*10) * time.Millisecond) // the clock runs backwards
					}
					text := fmt.Sprintf("%s/%d/%s/%d", step, attempt, stream, seq)
					if n == 80 {
						text += " " + strings.Repeat("x", 60<<10)
					}
					lines = append(lines, stepjob.LogLine{Stream: stream, Seq: int64(seq), Time: ts, Line: text})
				}
				total += n
			}
			if _, err := testStore.AppendLogs(e.ctx, store.LogTarget{Namespace: ns, RunUID: string(run.UID), Step: step, Attempt: attempt}, lines); err != nil {
				t.Fatal(err)
			}
		}
	}
	path := "/api/v1/namespaces/" + ns + "/runs/many/logs"
	get := func(query string) userapi.LogPage {
		t.Helper()
		resp := e.do("GET", path+query, viewer, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", query, resp.StatusCode)
		}
		return decode[userapi.LogPage](t, resp)
	}
	textBytes := func(p userapi.LogPage) (n int) {
		for _, l := range p.Items {
			n += len(l.Line)
		}
		return n
	}

	if p := get("?limit=100"); len(p.Items) != 100 {
		t.Errorf("limit 100: %d lines", len(p.Items))
	}
	if p := get("?limit=5000"); textBytes(p) > userapi.MaxLogPageBytes || len(p.Items) == total || len(p.Items) == 0 {
		t.Errorf("limit 5000: %d of %d lines, %d bytes of text; want at most %d bytes", len(p.Items), total, textBytes(p), userapi.MaxLogPageBytes)
	}

	last := map[string]int64{} // stream → last seq seen
	seen, cursor := 0, ""
	for pages := 0; ; pages++ {
		if pages > 200 {
			t.Fatal("paging did not end")
		}
		p := get("?limit=137&cursor=" + url.QueryEscape(cursor))
		if len(p.Items) > 137 || textBytes(p) > userapi.MaxLogPageBytes {
			t.Fatalf("page %d: %d lines, %d bytes", pages, len(p.Items), textBytes(p))
		}
		for _, l := range p.Items {
			k := fmt.Sprintf("%s/%d/%s", l.Step, l.Attempt, l.Stream)
			if l.Seq != last[k]+1 || !strings.HasPrefix(l.Line, fmt.Sprintf("%s/%d", k, l.Seq)) {
				t.Fatalf("page %d: %s line %d (%.40q) after line %d", pages, k, l.Seq, l.Line, last[k])
			}
			last[k] = l.Seq
			seen++
		}
		if len(p.Items) == 0 {
			if !p.Finished || p.Cursor != cursor {
				t.Errorf("last page: finished %v, cursor moved %v", p.Finished, p.Cursor != cursor)
			}
			break
		}
		cursor = p.Cursor
	}
	if seen != total || len(last) != 18 {
		t.Errorf("paged through %d lines of %d streams, want %d of 18", seen, len(last), total)
	}
}

// Log follows are capped per user and per namespace: past a cap the follow is refused at
// once with 429 TooManyFollows, Retry-After and the cap named, while another user of
// another namespace still follows; a slot comes back when its stream ends (the client
// leaves, or the Run finishes). On main (16ef044) every follow was accepted until the
// listener's 256 in-flight slots were gone, for everyone.
func TestUserAPIFollowCaps(t *testing.T) {
	e := newUserEnvWith(t, func(o *webhookserver.Options) {
		o.UserFollows = console.FollowLimits{PerUser: 2, PerNamespace: 3}
	})
	nsA, nsB := uniqueNS("follows-a"), uniqueNS("follows-b")
	e.namespace(nsA)
	e.namespace(nsB)
	ann, bob := e.member(nsA, "ann", "viewer"), e.member(nsA, "bob", "viewer")
	cid := e.member(nsB, "cid", "viewer")
	runA := e.seedRun(nsA, "live", aiasv1alpha1.RunRunning)
	e.seedRun(nsB, "live", aiasv1alpha1.RunRunning)

	open := func(token, ns string) (int, func()) {
		t.Helper()
		resp, cancel := e.openFollow(token, ns, "live")
		return resp.StatusCode, cancel
	}
	refused := func(token, ns, flag string, limit int) {
		t.Helper()
		resp, _ := e.openFollow(token, ns, "live")
		if resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("follow past the %s cap: %d, want 429", flag, resp.StatusCode)
		}
		body := decode[httpjson.ErrorBody](t, resp)
		if body.Reason != "TooManyFollows" || !strings.Contains(body.Error, flag) || !strings.Contains(body.Error, fmt.Sprint(limit)) || resp.Header.Get("Retry-After") == "" {
			t.Errorf("refusal %+v, Retry-After %q; want TooManyFollows naming --%s and %d", body, resp.Header.Get("Retry-After"), flag, limit)
		}
	}

	code1, leave := open(ann, nsA)
	code2, _ := open(ann, nsA)
	if code1 != 200 || code2 != 200 {
		t.Fatalf("ann's two follows: %d, %d", code1, code2)
	}
	refused(ann, nsA, console.FlagFollowsPerUser, 2)
	if code, _ := open(bob, nsA); code != 200 {
		t.Fatalf("bob's follow: %d", code)
	}
	refused(bob, nsA, console.FlagFollowsPerNamespace, 3)
	if code, _ := open(cid, nsB); code != 200 {
		t.Errorf("cid, another user of another namespace: %d, want 200", code)
	}

	// ann leaves one stream: its slot comes back once the server sees the client gone.
	leave()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, cancel := e.openFollow(ann, nsA, "live")
		if resp.StatusCode == 200 {
			break
		}
		cancel()
		if time.Now().After(deadline) {
			t.Fatalf("ann's slot did not come back within 10s of leaving: %d", resp.StatusCode)
		}
		time.Sleep(100 * time.Millisecond)
	}
	refused(ann, nsA, console.FlagFollowsPerUser, 2)

	// The Run finishes: every stream of nsA ends, and with them their slots.
	runA.Status.Phase = aiasv1alpha1.RunSucceeded
	if err := e.c.Status().Update(e.ctx, runA); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		resp, cancel := e.openFollow(bob, nsA, "live")
		code := resp.StatusCode
		cancel()
		if code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no slot in nsA within 10s of its Run finishing: %d", code)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A follow ends with `end` {"forbidden": true} once its caller may no longer read the
// Run's logs: its RoleBinding deleted, or its token no longer valid (the ServiceAccount
// deleted); a caller still allowed keeps following. On main (16ef044) a revoked follower
// kept streaming until the Run ended.
func TestUserAPIFollowEndsWhenAccessRevoked(t *testing.T) {
	const recheck = time.Second
	e := newUserEnvWith(t, func(o *webhookserver.Options) { o.UserFollows.AccessRecheck = recheck })
	ns := uniqueNS("revoke")
	e.namespace(ns)
	run := e.seedRun(ns, "live", aiasv1alpha1.RunRunning)
	target := store.LogTarget{Namespace: ns, RunUID: string(run.UID), Step: "a", Attempt: 1}
	seq := int64(0)
	appendLine := func() {
		t.Helper()
		seq++
		if _, err := testStore.AppendLogs(e.ctx, target, []stepjob.LogLine{{Stream: "stdout", Seq: seq, Time: time.Now(), Line: fmt.Sprint("line ", seq)}}); err != nil {
			t.Fatal(err)
		}
	}
	appendLine()
	stays := e.member(ns, "stays", "viewer")
	stayed := readEvents(func() *http.Response { r, _ := e.openFollow(stays, ns, "live"); return r }())
	nextEvent(t, stayed, "line", 10*time.Second)

	for _, tc := range []struct {
		name   string
		revoke func(member string)
		msg    string
		// cache is how long the apiserver itself may keep answering the old way: it
		// caches a token's authentication for 10 s; RBAC answers at once.
		cache time.Duration
	}{
		{"role binding deleted", func(member string) {
			if err := e.c.Delete(e.ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: member + "-viewer", Namespace: ns}}); err != nil {
				t.Fatal(err)
			}
		}, "cannot get runs/logs", 0},
		{"service account deleted", func(member string) {
			if err := e.c.Delete(e.ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: member, Namespace: ns}}); err != nil {
				t.Fatal(err)
			}
		}, "token is no longer valid", 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			member := strings.ReplaceAll(tc.name, " ", "-")
			token := e.member(ns, member, "viewer")
			resp, _ := e.openFollow(token, ns, "live")
			if resp.StatusCode != 200 {
				t.Fatalf("follow: %d", resp.StatusCode)
			}
			events := readEvents(resp)
			nextEvent(t, events, "line", 10*time.Second)
			tc.revoke(member)
			revoked := time.Now()
			ev, ok := nextEvent(t, events, "end", tc.cache+10*time.Second)
			if !ok {
				t.Fatal("the stream closed without an end event")
			}
			var end userapi.LogStreamEnd
			if err := json.Unmarshal([]byte(ev.data), &end); err != nil || !end.Forbidden || !strings.Contains(end.Message, tc.msg) {
				t.Errorf("end event %s, want forbidden with %q", ev.data, tc.msg)
			}
			// Within the recheck interval, plus a quiet stream's poll, the reviews and
			// the apiserver's own cache.
			if took := time.Since(revoked); took > tc.cache+recheck+5*time.Second {
				t.Errorf("the follow ended %v after the revocation, interval %v", took, recheck)
			}
			select {
			case ev, open := <-events:
				if open {
					t.Errorf("event after end: %+v", ev)
				}
			case <-time.After(5 * time.Second):
				t.Error("the stream stayed open after its end event")
			}
		})
	}

	// The caller still allowed kept its stream through every recheck.
	appendLine()
	for {
		ev, ok := nextEvent(t, stayed, "line", 10*time.Second)
		if !ok {
			t.Fatal("the allowed follower's stream closed")
		}
		if strings.Contains(ev.data, fmt.Sprint("line ", seq)) {
			break
		}
	}
}

// A Run's page lists its first userapi.MaxDetailArtifacts artifacts and says there are
// more; the artifacts route lists them all (read and written in pages). On main
// (16ef044) the Run's page, which the console polls, carried every artifact: up to 100
// per step attempt, thousands per Run.
func TestUserAPIRunDetailArtifactsBounded(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("arts")
	e.namespace(ns)
	viewer := e.member(ns, "viewer", "viewer")
	run := e.seedRun(ns, "outputs", aiasv1alpha1.RunSucceeded)
	const n = userapi.MaxDetailArtifacts + 30
	for i := range n {
		step := []string{"a", "b"}[i%2]
		if _, err := testStore.PutArtifact(e.ctx, store.ArtifactKey{Namespace: ns, RunName: "outputs", RunUID: string(run.UID), Step: step, Attempt: 1, Name: fmt.Sprintf("f%03d", i)},
			"text/plain", strings.NewReader(fmt.Sprint(i)), 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	d := decode[userapi.RunDetail](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/outputs", viewer, nil))
	if len(d.Artifacts) != userapi.MaxDetailArtifacts || !d.ArtifactsTruncated {
		t.Errorf("run page: %d artifacts (truncated %v), want %d and truncated", len(d.Artifacts), d.ArtifactsTruncated, userapi.MaxDetailArtifacts)
	}
	list := decode[userapi.ArtifactList](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/outputs/artifacts", viewer, nil))
	if len(list.Items) != n {
		t.Fatalf("artifacts route: %d, want %d", len(list.Items), n)
	}
	for i := 1; i < n; i++ {
		a, b := list.Items[i-1], list.Items[i]
		if a.Step > b.Step || (a.Step == b.Step && a.Name >= b.Name) {
			t.Fatalf("artifacts %d and %d out of order: %s/%s, %s/%s", i-1, i, a.Step, a.Name, b.Step, b.Name)
		}
	}
}

// Workflows are read from the apiserver in chunks; the list still holds every one, in
// name order.
func TestUserAPIWorkflowsListedInChunks(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("wfs")
	e.namespace(ns)
	viewer := e.member(ns, "viewer", "viewer")
	const n = 45 // more than two chunks
	for i := range n {
		wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: fmt.Sprintf("wf-%02d", i)}, Spec: aiasv1alpha1.WorkflowSpec{
			Steps: []aiasv1alpha1.WorkflowStep{{Name: "a", Image: "busybox", Command: []string{"echo"}}}}}
		if err := e.c.Create(e.ctx, wf); err != nil {
			t.Fatal(err)
		}
	}
	list := decode[userapi.WorkflowList](t, e.do("GET", "/api/v1/namespaces/"+ns+"/workflows", viewer, nil))
	if len(list.Items) != n {
		t.Fatalf("%d workflows, want %d", len(list.Items), n)
	}
	for i, wf := range list.Items {
		if wf.Name != fmt.Sprintf("wf-%02d", i) || len(wf.Steps) != 1 {
			t.Errorf("workflow %d: %+v", i, wf)
		}
	}
}
