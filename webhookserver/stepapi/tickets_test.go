package stepapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// send makes one request with an explicit token and ticket ("" leaves one out).
func send(t *testing.T, method, url, token, ticket, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if ticket != "" {
		req.Header.Set(stepjob.TicketHeader, ticket)
	}
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Reason string }
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out.Reason
}

// A step token reaches one live step attempt: the run token alone (as read from the
// Run's Secret) is refused, another attempt's or an expired ticket is refused, and once
// the attempt reports its outcome, the Run finishes or is deleted, nothing more is
// accepted — the token of a Succeeded Run's Secret cannot store an artifact.
func TestInternalAPIStepTokensAreBoundToALiveAttempt(t *testing.T) {
	srv, iss := newInternalAPI(t)
	ctx := context.Background()
	run := steptoken.Run{Namespace: "acme", Name: "tickets", UID: servertest.FreshUID()}
	at := newAttempt(t, iss, run, "build", 1)
	token := iss.Issue(run)
	ticket := func(step string, n int, expires time.Time) string {
		return iss.IssueAttempt(steptoken.Attempt{Run: run, Step: step, Attempt: n, Expires: expires})
	}
	later := time.Now().Add(time.Hour)
	url := srv.URL + at.path(stepjob.PathArtifacts+"out")
	forged, _ := steptoken.NewIssuer(bytes.Repeat([]byte("x"), 32))
	for _, c := range []struct {
		what, ticket string
		code         int
		reason       string
	}{
		{"no ticket", "", http.StatusUnauthorized, "MissingTicket"},
		{"forged ticket", forged.IssueAttempt(steptoken.Attempt{Run: run, Step: "build", Attempt: 1, Expires: later}), http.StatusUnauthorized, "InvalidTicket"},
		{"the run token as ticket", token, http.StatusUnauthorized, "InvalidTicket"},
		{"expired ticket", ticket("build", 1, time.Now().Add(-time.Second)), http.StatusUnauthorized, "ExpiredTicket"},
		{"another step's ticket", ticket("test", 1, later), http.StatusForbidden, "WrongAttempt"},
		{"the next attempt's ticket", ticket("build", 2, later), http.StatusForbidden, "WrongAttempt"},
		{"its own ticket", ticket("build", 1, later), http.StatusCreated, ""},
	} {
		if code, reason := send(t, http.MethodPut, url, token, c.ticket, "x"); code != c.code || reason != c.reason {
			t.Errorf("%s: %d %q, want %d %q", c.what, code, reason, c.code, c.reason)
		}
	}

	// The attempt reports its outcome: it may report again, but write nothing more.
	outcome := srv.URL + at.path(stepjob.PathOutcome)
	for range 2 {
		if code, reason := send(t, http.MethodPut, outcome, token, ticket("build", 1, later), `{"exitCode":0}`); code != http.StatusNoContent {
			t.Errorf("outcome: %d %q", code, reason)
		}
	}
	if code, reason := send(t, http.MethodPut, url, token, ticket("build", 1, later), "x"); code != http.StatusConflict || reason != "AttemptEnded" {
		t.Errorf("after the outcome: %d %q, want 409 AttemptEnded", code, reason)
	}

	// The Run succeeds: its token and a ticket of another attempt reach nothing.
	next := newAttempt(t, iss, run, "deploy", 1)
	nextURL := srv.URL + next.path(stepjob.PathArtifacts+"out")
	if code, _ := send(t, http.MethodPut, nextURL, token, ticket("deploy", 1, later), "x"); code != http.StatusCreated {
		t.Fatalf("a live attempt of the running Run: %d", code)
	}
	done := time.Now()
	if err := testStore.UpsertRun(ctx, store.RunRecord{UID: run.UID, Namespace: run.Namespace, Name: run.Name, Workflow: "wf",
		Phase: "Succeeded", Trigger: "Manual", CreatedAt: time.Now(), FinishedAt: &done}); err != nil {
		t.Fatal(err)
	}
	if code, reason := send(t, http.MethodPut, nextURL, token, ticket("deploy", 1, later), "x"); code != http.StatusConflict || reason != "RunEnded" {
		t.Errorf("the token of a Succeeded Run: %d %q, want 409 RunEnded", code, reason)
	}
	if err := testStore.DeleteRun(ctx, run.UID); err != nil {
		t.Fatal(err)
	}
	if code, reason := send(t, http.MethodPost, srv.URL+next.path(stepjob.PathLogs), token, ticket("deploy", 1, later), `{"lines":[]}`); code != http.StatusGone || reason != "RunGone" {
		t.Errorf("the token of a deleted Run: %d %q, want 410 RunGone", code, reason)
	}
}
