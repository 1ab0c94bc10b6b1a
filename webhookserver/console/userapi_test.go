package console_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/console"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

func decode[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	var v T
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decoding %T: %v", v, err)
	}
	return v
}

// Who may do what: a viewer of A reads A and nothing of B, cannot replay or cancel; an
// editor of A may; no token or a foreign token is 401; errors are JSON.
func TestUserAPIAuthorizationTable(t *testing.T) {
	e := newUserEnv(t)
	nsA, nsB := uniqueNS("authz-a"), uniqueNS("authz-b")
	e.namespace(nsA)
	e.namespace(nsB)
	viewerA := e.member(nsA, "viewer", "viewer")
	editorA := e.member(nsA, "editor", "editor")
	viewerB := e.member(nsB, "viewer", "viewer")
	nobody := e.member(nsA, "nobody", "")
	e.seedRun(nsA, "run-a", aiasv1alpha1.RunSucceeded, `{"a":1}`, `{"b":2}`)
	e.seedRun(nsB, "run-b", aiasv1alpha1.RunSucceeded, `{"a":1}`)
	e.seedRun(nsA, "run-live", aiasv1alpha1.RunRunning)

	a, b := "/api/v1/namespaces/"+nsA, "/api/v1/namespaces/"+nsB
	cases := []struct {
		who, token, method, path string
		want                     int
	}{
		{"no token", "", "GET", a + "/runs", 401},
		{"garbage token", "not-a-token", "GET", a + "/runs", 401},
		{"viewer A", viewerA, "GET", "/api/v1/whoami", 200},
		{"viewer A", viewerA, "GET", a + "/runs", 200},
		{"viewer A", viewerA, "GET", a + "/runs/run-a", 200},
		{"viewer A", viewerA, "GET", a + "/runs/run-a/steps", 200},
		{"viewer A", viewerA, "GET", a + "/runs/run-a/logs", 200},
		{"viewer A", viewerA, "GET", a + "/runs/run-a/artifacts", 200},
		{"viewer A", viewerA, "GET", a + "/runs/run-a/artifacts/a/result", 200},
		{"viewer A", viewerA, "GET", a + "/runs/run-a/artifacts/a/result/preview", 200},
		{"viewer A", viewerA, "GET", a + "/workflows", 200},
		{"viewer A", viewerA, "GET", a + "/webhookendpoints", 200},
		{"viewer A", viewerA, "GET", a + "/usage", 200},
		{"viewer A", viewerA, "GET", a + "/runs/missing", 404},
		{"viewer A", viewerA, "GET", b + "/runs", 403},
		{"viewer A", viewerA, "GET", b + "/runs/run-b", 403},
		{"viewer A", viewerA, "GET", b + "/runs/run-b/logs", 403},
		{"viewer A", viewerA, "GET", b + "/runs/run-b/artifacts/a/result", 403},
		{"viewer A", viewerA, "POST", a + "/runs/run-a/replay", 403},
		{"viewer A", viewerA, "POST", a + "/runs/run-live/cancel", 403},
		{"viewer B", viewerB, "GET", a + "/runs/run-a", 403},
		{"viewer B", viewerB, "GET", b + "/runs/run-b", 200},
		{"no role", nobody, "GET", a + "/runs", 403},
		{"editor A", editorA, "POST", a + "/runs/run-a/replay", 201},
		{"editor A", editorA, "POST", a + "/runs/run-live/cancel", 202},
		{"editor A", editorA, "POST", a + "/runs/run-a/cancel", 409}, // already finished
		{"editor A", editorA, "POST", b + "/runs/run-b/replay", 403},
	}
	for _, c := range cases {
		resp := e.do(c.method, c.path, c.token, nil)
		if resp.StatusCode != c.want {
			body, _ := io.ReadAll(resp.Body)
			t.Errorf("%s %s %s: %d, want %d: %s", c.who, c.method, c.path, resp.StatusCode, c.want, body)
			continue
		}
		if c.want >= 400 {
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("%s %s %s: error Content-Type %q", c.who, c.method, c.path, ct)
			}
			if e := decode[httpjson.ErrorBody](t, resp); e.Error == "" || e.Reason == "" {
				t.Errorf("%s %s %s: error body %+v", c.who, c.method, c.path, e)
			}
		}
	}

	// Each tenant sees only its own namespace.
	nss := decode[userapi.NamespaceList](t, e.do("GET", "/api/v1/namespaces", viewerA, nil))
	if len(nss.Items) != 1 || nss.Items[0].Name != nsA {
		t.Errorf("viewer A sees namespaces %+v, want only %s", nss.Items, nsA)
	}
	// The canceled Run has spec.cancel set for the controller.
	live := &aiasv1alpha1.Run{}
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: nsA, Name: "run-live"}, live); err != nil || !live.Spec.Cancel {
		t.Errorf("run-live after cancel: spec.cancel=%v err=%v", live.Spec.Cancel, err)
	}
}

// A replay is a new Run with the original's input, trigger Replay and spec.replayOf; its
// detail compares the step outputs with the original's.
func TestUserAPIReplayDeterminismCheck(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("replay")
	e.namespace(ns)
	editor := e.member(ns, "editor", "editor")
	e.seedRun(ns, "orig", aiasv1alpha1.RunSucceeded, `{"a":1}`, `{"b":2}`)

	resp := e.do("POST", "/api/v1/namespaces/"+ns+"/runs/orig/replay", editor, nil, "Idempotency-Key", "k1")
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("replay: %d", resp.StatusCode)
	}
	ref := decode[userapi.RunRef](t, resp)
	again := decode[userapi.RunRef](t, e.do("POST", "/api/v1/namespaces/"+ns+"/runs/orig/replay", editor, nil, "Idempotency-Key", "k1"))
	if again.Run != ref.Run {
		t.Errorf("same Idempotency-Key made a second replay %s besides %s", again.Run, ref.Run)
	}
	rep := &aiasv1alpha1.Run{}
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: ns, Name: ref.Run}, rep); err != nil {
		t.Fatal(err)
	}
	if rep.Spec.ReplayOf != "orig" || rep.Spec.Trigger == nil || rep.Spec.Trigger.Type != aiasv1alpha1.TriggerReplay ||
		rep.Spec.Input == nil || *rep.Spec.Input != `{"n":1}` {
		t.Fatalf("replay spec %+v", rep.Spec)
	}

	// As the controller would: the replay runs; its steps produce outputs.
	orig := &aiasv1alpha1.Run{}
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: ns, Name: "orig"}, orig); err != nil {
		t.Fatal(err)
	}
	setSteps := func(outputs ...string) {
		t.Helper()
		if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: ns, Name: ref.Run}, rep); err != nil {
			t.Fatal(err)
		}
		rep.Status = aiasv1alpha1.RunStatus{Phase: aiasv1alpha1.RunSucceeded, SpecDigest: orig.Status.SpecDigest}
		for i, s := range []string{"a", "b"} {
			st := aiasv1alpha1.StepStatus{Name: s, Phase: aiasv1alpha1.StepRunning}
			if i < len(outputs) {
				st.Phase, st.OutputDigest = aiasv1alpha1.StepSucceeded, outputs[i]
			}
			rep.Status.Steps = append(rep.Status.Steps, st)
		}
		if err := e.c.Status().Update(e.ctx, rep); err != nil {
			t.Fatal(err)
		}
	}
	detail := func() *userapi.ReplayCheck {
		t.Helper()
		d := decode[userapi.RunDetail](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/"+ref.Run, editor, nil))
		if d.Replay == nil || d.Replay.Of != "orig" {
			t.Fatalf("replay detail %+v", d.Replay)
		}
		return d.Replay
	}
	da, db := orig.Status.Steps[0].OutputDigest, orig.Status.Steps[1].OutputDigest
	setSteps(da)
	if c := detail(); c.Verdict != "pending" || c.Steps[0].Match != "match" || c.Steps[1].Match != "pending" || !c.SameSpec {
		t.Errorf("half done: %+v", c)
	}
	setSteps(da, db)
	if c := detail(); c.Verdict != "match" || c.Steps[1].Match != "match" {
		t.Errorf("all equal: %+v", c)
	}
	setSteps(da, "sha256:"+strings.Repeat("0", 64))
	if c := detail(); c.Verdict != "differs" || c.Steps[0].Match != "match" || c.Steps[1].Match != "differs" {
		t.Errorf("b differs: %+v", c)
	}
}

// Lines appended while a client follows reach it in order, and the stream ends once the
// Run has finished and every line was sent.
func TestUserAPILogsFollow(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("follow")
	e.namespace(ns)
	viewer := e.member(ns, "viewer", "viewer")
	run := e.seedRun(ns, "live", aiasv1alpha1.RunRunning)
	target := store.LogTarget{Namespace: ns, RunUID: string(run.UID), Step: "a", Attempt: 1}
	appendLines := func(from, to int) {
		var lines []stepjob.LogLine
		for i := from; i <= to; i++ {
			lines = append(lines, stepjob.LogLine{Stream: "stdout", Seq: int64(i), Time: time.Now(), Line: "line " + strconv.Itoa(i)})
		}
		if _, err := testStore.AppendLogs(e.ctx, target, lines); err != nil {
			t.Fatal(err)
		}
	}
	appendLines(1, 3)

	resp := e.do("GET", "/api/v1/namespaces/"+ns+"/runs/live/logs?follow=true", viewer, nil)
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := make(chan [2]string, 100) // event type, data
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var typ, data string
		for sc.Scan() {
			switch line := sc.Text(); {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				data = strings.TrimPrefix(line, "data: ")
			case line == "" && typ != "":
				events <- [2]string{typ, data}
				typ, data = "", ""
			}
		}
	}()
	next := func() [2]string {
		t.Helper()
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("stream closed early")
			}
			return ev
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		return [2]string{}
	}
	for i := 1; i <= 6; i++ {
		if i == 4 {
			appendLines(4, 6) // while the client waits
		}
		ev := next()
		var l userapi.LogEntry
		if ev[0] != "line" || json.Unmarshal([]byte(ev[1]), &l) != nil || l.Line != "line "+strconv.Itoa(i) || l.Step != "a" {
			t.Fatalf("event %d: %v", i, ev)
		}
	}
	run.Status.Phase = aiasv1alpha1.RunSucceeded
	if err := e.c.Status().Update(e.ctx, run); err != nil {
		t.Fatal(err)
	}
	if ev := next(); ev[0] != "end" || !strings.Contains(ev[1], "Succeeded") {
		t.Fatalf("last event %v, want end", ev)
	}

	// Paging without follow: the cursor resumes after the last line.
	page := decode[userapi.LogPage](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/live/logs?step=a&limit=4", viewer, nil))
	rest := decode[userapi.LogPage](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/live/logs?step=a&cursor="+url.QueryEscape(page.Cursor), viewer, nil))
	if len(page.Items) != 4 || len(rest.Items) != 2 || rest.Items[0].Line != "line 5" || !rest.Finished {
		t.Errorf("pages %d + %d lines (%+v)", len(page.Items), len(rest.Items), rest)
	}
}

// Downloads carry the digest as ETag and honour Range across the store's 1 MiB chunks.
func TestUserAPIArtifactDownloadRange(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("range")
	e.namespace(ns)
	viewer := e.member(ns, "viewer", "viewer")
	run := e.seedRun(ns, "big", aiasv1alpha1.RunSucceeded, `{}`)
	content := make([]byte, 3<<20+123)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range content {
		content[i] = byte(rng.UintN(256))
	}
	art, err := testStore.PutArtifact(e.ctx, store.ArtifactKey{Namespace: ns, RunName: "big", RunUID: string(run.UID), Step: "a", Attempt: 1, Name: "blob.bin"},
		"application/octet-stream", bytes.NewReader(content), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/namespaces/" + ns + "/runs/big/artifacts/a/blob.bin"

	full := e.do("GET", path, viewer, nil)
	body, _ := io.ReadAll(full.Body)
	sum := sha256.Sum256(body)
	if full.StatusCode != 200 || "sha256:"+hex.EncodeToString(sum[:]) != art.Digest {
		t.Fatalf("full download: %d, %d bytes", full.StatusCode, len(body))
	}
	if et := full.Header.Get("ETag"); et != `"`+art.Digest+`"` {
		t.Errorf("ETag %q", et)
	}
	if cd := full.Header.Get("Content-Disposition"); !strings.HasPrefix(cd, "attachment") || !strings.Contains(cd, "blob.bin") {
		t.Errorf("Content-Disposition %q", cd)
	}
	if ct := full.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("Content-Type %q", ct)
	}

	for _, r := range [][2]int{{0, 9}, {1<<20 - 5, 1<<20 + 5}, {2<<20 + 7, 3<<20 + 100}, {len(content) - 10, len(content) - 1}} {
		resp := e.do("GET", path, viewer, nil, "Range", "bytes="+strconv.Itoa(r[0])+"-"+strconv.Itoa(r[1]))
		got, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(got, content[r[0]:r[1]+1]) {
			t.Errorf("range %v: %d, %d bytes, equal=%v", r, resp.StatusCode, len(got), bytes.Equal(got, content[r[0]:r[1]+1]))
		}
	}
	if resp := e.do("GET", path, viewer, nil, "If-None-Match", `"`+art.Digest+`"`); resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d", resp.StatusCode)
	}
	if resp := e.do("GET", path, viewer, nil, "Range", "bytes=99999999-"); resp.StatusCode != http.StatusRequestedRangeNotSatisfiable {
		t.Errorf("range past the end: %d", resp.StatusCode)
	}

	pv := decode[userapi.Preview](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/big/artifacts/a/result/preview", viewer, nil))
	if pv.Kind != "json" || pv.Text != "{}" {
		t.Errorf("JSON preview %+v", pv)
	}
	pv = decode[userapi.Preview](t, e.do("GET", path+"/preview", viewer, nil))
	if pv.Kind != "binary" || !pv.Truncated || pv.Text != "" {
		t.Errorf("binary preview %+v", pv)
	}
}

// Pages of the runs list are disjoint, newest first, and together hold every run; the
// filters narrow them.
func TestUserAPIRunsListPaging(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("paging")
	e.namespace(ns)
	viewer := e.member(ns, "viewer", "viewer")
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i := range 120 {
		phase := "Succeeded"
		if i%3 == 0 {
			phase = "Failed"
		}
		wf := "w1"
		if i%2 == 0 {
			wf = "w2"
		}
		// Pairs share a creation second: the uid breaks the tie.
		if err := testStore.UpsertRun(e.ctx, store.RunRecord{UID: servertest.FreshUID(), Namespace: ns, Name: "r" + strconv.Itoa(i), Workflow: wf, Phase: phase,
			Trigger: "Manual", CreatedAt: base.Add(time.Duration(i/2) * time.Second)}); err != nil {
			t.Fatal(err)
		}
	}
	list := func(query string) []userapi.RunSummary {
		t.Helper()
		var all []userapi.RunSummary
		cont := ""
		for pages := 0; ; pages++ {
			resp := e.do("GET", "/api/v1/namespaces/"+ns+"/runs?limit=50&continue="+url.QueryEscape(cont)+query, viewer, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("list: %d", resp.StatusCode)
			}
			page := decode[userapi.RunList](t, resp)
			all = append(all, page.Items...)
			if cont = page.Continue; cont == "" {
				return all
			}
		}
	}
	all := list("")
	seen := map[string]bool{}
	for i, r := range all {
		if seen[r.Name] {
			t.Fatalf("%s twice", r.Name)
		}
		seen[r.Name] = true
		if i > 0 && r.CreatedAt.After(all[i-1].CreatedAt) {
			t.Fatalf("not newest first at %d", i)
		}
	}
	if len(all) != 120 {
		t.Fatalf("%d runs listed, want 120", len(all))
	}
	if n := len(list("&phase=Failed")); n != 40 {
		t.Errorf("phase=Failed: %d, want 40", n)
	}
	if n := len(list("&workflow=w2&phase=Failed")); n != 20 {
		t.Errorf("workflow=w2&phase=Failed: %d, want 20", n)
	}
	since := url.QueryEscape(base.Add(50 * time.Second).Format(time.RFC3339))
	if n := len(list("&since=" + since)); n != 20 {
		t.Errorf("since: %d, want 20", n)
	}
	if resp := e.do("GET", "/api/v1/namespaces/"+ns+"/runs?continue=bogus", viewer, nil); resp.StatusCode != 400 {
		t.Errorf("bad continue token: %d", resp.StatusCode)
	}
	if resp := e.do("GET", "/api/v1/namespaces/"+ns+"/runs?since=yesterday", viewer, nil); resp.StatusCode != 400 {
		t.Errorf("bad since: %d", resp.StatusCode)
	}
}

// The UI's cookie session: login checks the token; a POST carried by the cookie needs
// the CSRF header; logout clears the session.
func TestUserAPICookieSessionAndCSRF(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("csrf")
	e.namespace(ns)
	editor := e.member(ns, "editor", "editor")
	e.seedRun(ns, "live", aiasv1alpha1.RunRunning)

	bad, _ := http.PostForm(e.url+"/login", url.Values{"token": {"nope"}})
	bad.Body.Close()
	if bad.StatusCode != 401 {
		t.Errorf("login with a bad token: %d", bad.StatusCode)
	}
	foreign, _ := http.NewRequest("POST", e.url+"/login", strings.NewReader(url.Values{"token": {editor}}.Encode()))
	foreign.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	foreign.Header.Set("Origin", "https://evil.example")
	if resp, err := http.DefaultClient.Do(foreign); err != nil || resp.StatusCode != 403 {
		t.Errorf("cross-origin login: %v %v", resp.StatusCode, err)
	}
	resp, err := http.PostForm(e.url+"/login", url.Values{"token": {editor}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var session, csrf *http.Cookie
	for _, c := range resp.Cookies() {
		switch c.Name {
		case console.SessionCookie:
			session = c
		case console.CSRFCookie:
			csrf = c
		}
	}
	if resp.StatusCode != 204 || session == nil || csrf == nil || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || csrf.HttpOnly {
		t.Fatalf("login: %d session=%+v csrf=%+v", resp.StatusCode, session, csrf)
	}
	withCookies := func(method, path string, csrfHeader string) int {
		req, _ := http.NewRequest(method, e.url+path, nil)
		req.AddCookie(session)
		req.AddCookie(csrf)
		if csrfHeader != "" {
			req.Header.Set("X-CSRF-Token", csrfHeader)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := withCookies("GET", "/api/v1/whoami", ""); code != 200 {
		t.Errorf("GET with the session cookie: %d", code)
	}
	cancel := "/api/v1/namespaces/" + ns + "/runs/live/cancel"
	if code := withCookies("POST", cancel, ""); code != 403 {
		t.Errorf("POST without CSRF header: %d", code)
	}
	if code := withCookies("POST", cancel, "wrong"); code != 403 {
		t.Errorf("POST with a wrong CSRF header: %d", code)
	}
	if code := withCookies("POST", cancel, csrf.Value); code != 202 {
		t.Errorf("POST with the CSRF header: %d", code)
	}
	if code := withCookies("POST", "/logout", csrf.Value); code != 204 {
		t.Errorf("logout: %d", code)
	}
}

// A step's run time comes from what step-run measured, to the millisecond, for the latest
// attempt that reported one; the second-granular status span stays as it is.
func TestUserAPIStepRunSeconds(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("runsecs")
	e.namespace(ns)
	viewer := e.member(ns, "viewer", "viewer")
	run := e.seedRun(ns, "timed", aiasv1alpha1.RunSucceeded, `{"a":1}`, `{"b":2}`)
	for attempt, secs := range map[int]float64{1: 1.5, 2: 0.042} {
		if err := testStore.RecordStepOutcome(e.ctx, string(run.UID), "a", attempt, store.StepOutcome{ExitCode: 0, RunSeconds: &secs}); err != nil {
			t.Fatal(err)
		}
	}
	if err := testStore.RecordStepOutcome(e.ctx, string(run.UID), "b", 1, store.StepOutcome{ExitCode: 0}); err != nil { // an older step-run: no figure
		t.Fatal(err)
	}
	steps := decode[userapi.StepList](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/timed/steps", viewer, nil))
	if len(steps.Items) != 2 || steps.Items[0].RunSeconds == nil || *steps.Items[0].RunSeconds != 0.042 || steps.Items[1].RunSeconds != nil {
		t.Fatalf("steps %+v", steps.Items)
	}
}
