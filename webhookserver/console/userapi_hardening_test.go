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

	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver"
	"github.com/aias-dev/aias/webhookserver/console"
)

// newUserEnvLimited is newUserEnv with the user listener's limits set.
func newUserEnvLimited(t *testing.T, lim webhookserver.Limits) *userEnv {
	t.Helper()
	return newUserEnvWith(t, func(o *webhookserver.Options) { o.UserLimits = lim })
}

// Login and cookie-carried POSTs are refused from any Origin but the listener's own:
// "null" (a sandboxed frame, a file: page) never matches, whatever X-Forwarded-Host says.
func TestUserAPIRefusesForeignOrigins(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("origin")
	e.namespace(ns)
	editor := e.member(ns, "editor", "editor")
	e.seedRun(ns, "live", aiasv1alpha1.RunRunning)
	host := strings.TrimPrefix(e.url, "http://")

	login := func(header ...string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", e.url+"/login", strings.NewReader(url.Values{"token": {editor}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, h := range [][]string{
		{"Origin", "null"},
		{"Origin", "null", "X-Forwarded-Host", ""},
		{"Origin", "https://evil.example"},
		{"Origin", "http://" + host + ".evil.example"},
		{"Origin", "http://evil.example", "X-Forwarded-Host", "console.example.com"},
		{"Origin", "file://"},
		{"Origin", "http://" + host, "Sec-Fetch-Site", "cross-site"},
	} {
		if resp := login(h...); resp.StatusCode != http.StatusForbidden || len(resp.Cookies()) != 0 {
			t.Errorf("login with %q: %d and %d cookies, want 403 and no session", h, resp.StatusCode, len(resp.Cookies()))
		}
	}
	for _, h := range [][]string{
		{},
		{"Origin", "http://" + host, "Sec-Fetch-Site", "same-origin"},
		{"Origin", "https://console.example.com", "X-Forwarded-Host", "console.example.com"},
	} {
		if resp := login(h...); resp.StatusCode != http.StatusNoContent {
			t.Errorf("login with %q: %d, want 204", h, resp.StatusCode)
		}
	}

	resp := login("Origin", "http://"+host)
	var session, csrf *http.Cookie
	for _, c := range resp.Cookies() {
		switch c.Name {
		case console.SessionCookie:
			session = c
		case console.CSRFCookie:
			csrf = c
		}
	}
	if session == nil || csrf == nil {
		t.Fatalf("same-origin login set no session: %d", resp.StatusCode)
	}
	post := func(path, origin string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", e.url+path, nil)
		req.AddCookie(session)
		req.AddCookie(csrf)
		req.Header.Set("X-CSRF-Token", csrf.Value)
		req.Header.Set("Origin", origin)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	cancel := "/api/v1/namespaces/" + ns + "/runs/live/cancel"
	if code := post(cancel, "null"); code != http.StatusForbidden {
		t.Errorf("cookie POST from Origin null: %d, want 403", code)
	}
	if code := post("/logout", "null"); code != http.StatusForbidden {
		t.Errorf("logout from Origin null: %d, want 403", code)
	}
	if code := post(cancel, "http://"+host); code != http.StatusAccepted {
		t.Errorf("cookie POST from its own origin: %d, want 202", code)
	}
}

// A follow of a Run's logs outlives the listener's read and write timeouts, and ends
// within seconds once the Run is deleted (gone, or held by a finalizer).
func TestUserAPILogsFollowEndsWhenRunDeleted(t *testing.T) {
	e := newUserEnvLimited(t, webhookserver.Limits{ReadTimeout: time.Second, WriteTimeout: time.Second, StreamTimeout: 5 * time.Second})
	ns := uniqueNS("follow-del")
	e.namespace(ns)
	viewer := e.member(ns, "viewer", "viewer")

	for _, finalizer := range []bool{false, true} {
		t.Run(fmt.Sprintf("finalizer=%v", finalizer), func(t *testing.T) {
			name := fmt.Sprintf("gone-%v", finalizer)
			run := e.seedRun(ns, name, aiasv1alpha1.RunRunning)
			if _, err := testStore.AppendLogs(e.ctx, store.LogTarget{Namespace: ns, RunUID: string(run.UID), Step: "a", Attempt: 1},
				[]stepjob.LogLine{{Stream: "stdout", Seq: 1, Time: time.Now(), Line: "hello"}}); err != nil {
				t.Fatal(err)
			}
			if finalizer {
				patch := client.MergeFrom(run.DeepCopy())
				run.Finalizers = []string{"aias.dev/test-hold"}
				if err := e.c.Patch(e.ctx, run, patch); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() {
					_ = e.c.Patch(context.Background(), &aiasv1alpha1.Run{ObjectMeta: run.ObjectMeta},
						client.RawPatch(types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`)))
				})
			}
			resp := e.do("GET", "/api/v1/namespaces/"+ns+"/runs/"+name+"/logs?follow=true", viewer, nil)
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("Content-Type %q", ct)
			}
			events := make(chan [2]string, 100)
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
			// The seeded log line, then quiet for longer than the read and write timeouts:
			// the stream must still be open.
			select {
			case ev := <-events:
				if ev[0] != "line" {
					t.Fatalf("first event %v", ev)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("no line within 10s")
			}
			select {
			case ev, ok := <-events:
				t.Fatalf("the stream ended or sent %v (open %v) before the Run was deleted", ev, ok)
			case <-time.After(2500 * time.Millisecond):
			}

			if err := e.c.Delete(e.ctx, run); err != nil {
				t.Fatal(err)
			}
			deadline := time.After(5 * time.Second)
			for {
				select {
				case ev, ok := <-events:
					if !ok {
						t.Fatal("the stream closed without an end event")
					}
					if ev[0] != "end" {
						continue
					}
					var end struct {
						Deleted bool `json:"deleted"`
					}
					if json.Unmarshal([]byte(ev[1]), &end) != nil || !end.Deleted {
						t.Errorf("end event %q, want deleted", ev[1])
					}
					select {
					case _, ok := <-events:
						if ok {
							t.Error("events after end")
						}
					case <-time.After(2 * time.Second):
						t.Error("the stream stayed open after its end event")
					}
					return
				case <-deadline:
					t.Fatal("the follow of a deleted Run did not end within 5s")
				}
			}
		})
	}
}

// The user listener keeps at most MaxCachedSpecs decoded frozen specs, however many
// distinct ones it reads.
func TestUserAPISpecCacheIsBounded(t *testing.T) {
	srv, err := console.New(testEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	srv.Store = testStore
	ctx := context.Background()
	n := console.MaxCachedSpecs + 100
	var last string
	for i := range n {
		raw, _ := json.Marshal(aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{
			{Name: "a", Image: "busybox", Command: []string{"echo", fmt.Sprintf("%d-%d", time.Now().UnixNano(), i)}}}})
		digest, err := testStore.PutWorkflowSpec(ctx, raw)
		if err != nil {
			t.Fatal(err)
		}
		if spec, err := console.FrozenSpec(srv, ctx, digest); err != nil || spec == nil || len(spec.Steps) != 1 {
			t.Fatalf("spec %d: %v %v", i, spec, err)
		}
		last = digest
	}
	if got := console.CachedSpecs(srv); got > console.MaxCachedSpecs || got == 0 {
		t.Errorf("%d specs cached after %d distinct ones, want at most %d", got, n, console.MaxCachedSpecs)
	}
	if spec, err := console.FrozenSpec(srv, ctx, last); err != nil || spec == nil {
		t.Errorf("the latest spec: %v %v", spec, err)
	}
}
