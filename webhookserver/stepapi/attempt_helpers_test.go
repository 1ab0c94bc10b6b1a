package stepapi

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
)

// attempt is one step attempt of a Run as a step pod sees it: its run token and ticket.
type attempt struct {
	iss     *steptoken.Issuer
	run     steptoken.Run
	step    string
	attempt int
}

// newAttempt records run in the run index (as the Run controller does before any step
// starts) and returns its attempt step/n.
func newAttempt(t testing.TB, iss *steptoken.Issuer, run steptoken.Run, step string, n int) attempt {
	t.Helper()
	err := testStore.UpsertRun(context.Background(), store.RunRecord{UID: run.UID, Namespace: run.Namespace, Name: run.Name,
		Workflow: "wf", Phase: "Running", Trigger: "Manual", CreatedAt: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return attempt{iss: iss, run: run, step: step, attempt: n}
}

// path is the attempt's URL path plus rest.
func (a attempt) path(rest string) string {
	return stepjob.AttemptPath(a.run.Namespace, a.run.Name, a.step, a.attempt) + rest
}

// request is method rest with the attempt's token and ticket.
func (a attempt) request(method, base, rest, contentType string, body io.Reader) *http.Request {
	var req *http.Request
	if base == "" { // served in process (httptest.ResponseRecorder)
		req = httptest.NewRequest(method, a.path(rest), body)
	} else {
		req, _ = http.NewRequest(method, base+a.path(rest), body)
	}
	req.Header.Set("Authorization", "Bearer "+a.iss.Issue(a.run))
	req.Header.Set(stepjob.TicketHeader, a.iss.IssueAttempt(steptoken.Attempt{Run: a.run, Step: a.step, Attempt: a.attempt, Expires: time.Now().Add(time.Hour)}))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return req
}

// call sends the request to srv and returns the status and the JSON body.
func (a attempt) call(t testing.TB, srvURL, method, rest, contentType, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(a.request(method, srvURL, rest, contentType, strings.NewReader(body)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
