package noisy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func storeKeyNone() store.ArtifactKey { return store.ArtifactKey{} }

// startHold starts A's Run of the hold Workflow and waits until its step runs (its
// attempt is open) and has printed its lines.
func (tn *Tenant) startHold(ctx context.Context, name string) (*aiasv1alpha1.Run, error) {
	c := tn.s.Env.Client
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: tn.NS},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: workflowHold}}}
	if err := c.Create(ctx, run); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(200 * time.Millisecond) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(run), run); err != nil {
			return nil, err
		}
		if run.Status.Phase.Finished() {
			return nil, fmt.Errorf("tenant A's hold Run ended %s: %s", run.Status.Phase, run.Status.Message)
		}
		if run.Status.Phase == aiasv1alpha1.RunRunning && len(run.Status.Steps) == 1 && run.Status.Steps[0].Attempts >= 1 {
			if n, _ := tn.countLines(ctx, run); n >= logLines {
				return run, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("tenant A's hold Run is %q after 2 minutes", run.Status.Phase)
		}
	}
}

// countLines is how many stdout lines the Run's first attempt has stored.
func (tn *Tenant) countLines(ctx context.Context, run *aiasv1alpha1.Run) (int, error) {
	refs, _, err := tn.s.Store.PageRunLogs(ctx, string(run.UID), []store.LogKey{{Step: "main", Attempt: 1, Stream: stepjob.StreamStdout}},
		store.RunLogPage{Limit: logLines + 10, MaxBytes: 64 << 20})
	return len(refs), err
}

// stepRequest is a request a hostile step of run makes to the internal step API with its
// own credentials (a step holds its Run's token and its attempt's ticket).
func (tn *Tenant) stepRequest(ctx context.Context, run *aiasv1alpha1.Run, method, path string, body io.Reader) *http.Request {
	r := steptoken.Run{Namespace: run.Namespace, Name: run.Name, UID: string(run.UID)}
	req, _ := http.NewRequestWithContext(ctx, method, tn.s.Internal+stepjob.AttemptPath(run.Namespace, run.Name, "main", 1)+path, body)
	req.Header.Set("Authorization", "Bearer "+tn.s.Tokens.Issue(r))
	req.Header.Set(stepjob.TicketHeader, tn.s.Tokens.IssueAttempt(steptoken.Attempt{Run: r, Step: "main", Attempt: 1, Expires: time.Now().Add(time.Hour)}))
	return req
}

// answer names an outcome for the flood's counts: the status, or why there was none.
func answer(resp *http.Response, err error) string {
	if err != nil {
		if strings.Contains(err.Error(), "deadline") || strings.Contains(err.Error(), "canceled") {
			return "cut"
		}
		return "error"
	}
	return fmt.Sprint(resp.StatusCode)
}

// pause waits d or until ctx is done, and reports whether to go on.
func pause(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}

// slowReader yields n bytes at about perSecond bytes a second.
type slowReader struct {
	ctx       context.Context
	left      int
	perSecond int
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	chunk := min(len(p), r.left, max(r.perSecond/10, 1))
	if !pause(r.ctx, 100*time.Millisecond) {
		return 0, r.ctx.Err()
	}
	for i := range chunk {
		p[i] = 'x'
	}
	r.left -= chunk
	return chunk, nil
}

// flood starts A's attack on every shared path until ctx is done; wg tracks it. slow
// and fast are A's open Runs (FloodMain runs it in a process of its own).
func (tn *Tenant) flood(ctx context.Context, wg *sync.WaitGroup, slow, fast *aiasv1alpha1.Run, c *counts) {
	// Filtered deliveries, paced at 25 a second per sender from 8 senders: the tenant's
	// deliveriesPerMinute answers most of them 429 before the filter.
	noise := clientFrom("127.0.0.2", 30*time.Second)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; pause(ctx, 40*time.Millisecond); i++ {
				req, err := tn.signed(ctx, "noise", fmt.Sprintf("noise-%d-%d-%d", w, i, time.Now().UnixNano()), []byte(`{"kind":"noise"}`))
				if err != nil {
					continue
				}
				resp, err := noise.Do(req)
				c.add("filtered delivery", answer(resp, err))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	// 32 MiB bodies to an endpoint that takes them, as fast as loopback carries them: 4
	// senders declare their length, 4 stream it chunked; half forge the signature, half
	// hold the key (either way the body streams into the listener's memory until it
	// verifies or is refused).
	big := clientFrom("127.0.0.3", 60*time.Second)
	body := bytes.Repeat([]byte("x"), 32<<20)
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				req, err := tn.signed(ctx, "big", fmt.Sprintf("big-%d-%d-%d", w, i, time.Now().UnixNano()), body)
				if err != nil {
					continue
				}
				if w%2 == 0 {
					req.Header.Set("Webhook-Signature", "v1,Zm9yZ2Vk") // forged
				}
				req.Body = io.NopCloser(bytes.NewReader(body))
				req.ContentLength = int64(len(body))
				if w < 4 {
					req.ContentLength = -1
				}
				resp, err := big.Do(req)
				c.add("32 MiB body", answer(resp, err))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
						pause(ctx, 500*time.Millisecond)
					}
				}
			}
		})
	}
	// A step's 24 uploads at 2 KB/s each, retried when refused, as a hostile step would.
	steps := clientFrom("127.0.0.4", 0)
	for w := range 24 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req := tn.stepRequest(ctx, slow, http.MethodPut, stepjob.PathArtifacts+fmt.Sprintf("slow-%d", w), &slowReader{ctx: ctx, left: 1 << 20, perSecond: 2 << 10})
				req.ContentLength = 1 << 20
				resp, err := steps.Do(req)
				c.add("slow upload", answer(resp, err))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				pause(ctx, time.Second)
			}
		})
	}
	// 16 parallel 1 MiB uploads against the Run's 8 MiB artifactBytesPerRun.
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ctx.Err() == nil; i++ {
				req := tn.stepRequest(ctx, fast, http.MethodPut, stepjob.PathArtifacts+fmt.Sprintf("fast-%d-%d", w, i%4), bytes.NewReader(bytes.Repeat([]byte{byte(w)}, 1<<20)))
				resp, err := steps.Do(req)
				c.add("upload past the cap", answer(resp, err))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				pause(ctx, 200*time.Millisecond)
			}
		})
	}
	// 300 log follows of the open Run, held; a refused one tries again a second later.
	users := clientFrom("127.0.0.5", 0)
	logs := tn.s.User + userapi.LogsPath(tn.NS, slow.Name)
	for range 300 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, logs+"?follow=true", nil)
				req.Header.Set("Authorization", "Bearer "+tn.Token)
				resp, err := users.Do(req)
				c.add("log follow", answer(resp, err))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body) // held until the flood ends
					resp.Body.Close()
				}
				pause(ctx, time.Second)
			}
		})
	}
	// Large log pages, read again and again by 4 readers.
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, logs+"?limit=5000", nil)
				req.Header.Set("Authorization", "Bearer "+tn.Token)
				resp, err := users.Do(req)
				c.add("5000-line log page", answer(resp, err))
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				pause(ctx, 50*time.Millisecond)
			}
		})
	}
}
