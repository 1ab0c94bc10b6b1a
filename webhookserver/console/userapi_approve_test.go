package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// seedGateRun creates a Run of build → prod (an approval gate) → deploy, with prod in
// phase gate (build succeeded before it) and the frozen spec the listener reads, as the
// Run controller leaves a Run whose gate waits. set changes the status before it is
// written.
func (e *userEnv) seedGateRun(ns, name string, gate aiasv1alpha1.ApprovalGate, set func(*aiasv1alpha1.RunStatus)) *aiasv1alpha1.Run {
	e.t.Helper()
	spec := aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{
		{Name: "build", Image: "busybox", Command: []string{"sh"}},
		{Name: "prod", DependsOn: []string{"build"}, Approval: &gate},
		{Name: "deploy", Image: "busybox", Command: []string{"sh"}, DependsOn: []string{"prod"}}}}
	raw, _ := json.Marshal(spec)
	specDigest, err := testStore.PutWorkflowSpec(e.ctx, raw)
	if err != nil {
		e.t.Fatal(err)
	}
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "ship"}}}
	if err := e.c.Create(e.ctx, run); err != nil {
		e.t.Fatal(err)
	}
	now := metav1.Now()
	run.Status = aiasv1alpha1.RunStatus{Phase: aiasv1alpha1.RunWaiting, SpecDigest: specDigest, StartTime: &now,
		Message: "waiting for approval of step prod", Steps: []aiasv1alpha1.StepStatus{
			{Name: "build", Phase: aiasv1alpha1.StepSucceeded, Attempts: 1, ExitCode: ptr.To[int32](0)},
			{Name: "prod", Phase: aiasv1alpha1.StepWaiting, StartTime: &now, Message: "waiting for approval: " + gate.Message},
			{Name: "deploy", Phase: aiasv1alpha1.StepPending}}}
	if set != nil {
		set(&run.Status)
	}
	if err := e.c.Status().Update(e.ctx, run); err != nil {
		e.t.Fatal(err)
	}
	return run
}

// Approval gates through the user API: RBAC (create runs/approve: editors yes, viewers no)
// and then the gate's approvers decide who may; the first decision is recorded in the
// store and wakes the Run controller through the Run's annotation; a second one is 409
// AlreadyDecided with the first (the same request again is 200: a retry); a gate not
// waiting, a step that is no gate, a comment too long are refused; the run's steps show
// the gate and, once applied, its decision.
func TestUserAPIApprovalGates(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("approve")
	e.namespace(ns)
	alice := e.member(ns, "alice", "editor")
	bob := e.member(ns, "bob", "admin")
	carol := e.member(ns, "carol", "editor")
	viewer := e.member(ns, "viewer", "viewer")
	sa := func(name string) string { return "system:serviceaccount:" + ns + ":" + name }

	named := aiasv1alpha1.ApprovalGate{Message: "ship it?", Approvers: []aiasv1alpha1.Approver{{Kind: "User", Name: sa("alice")}, {Kind: "User", Name: sa("bob")}}}
	run := e.seedGateRun(ns, "release-7", named, nil)
	path := func(run, step, verb string) string {
		return "/api/v1/namespaces/" + ns + "/runs/" + run + "/steps/" + step + "/" + verb
	}
	body := func(comment string) []byte { b, _ := json.Marshal(userapi.DecisionRequest{Comment: comment}); return b }
	refused := func(resp *http.Response, status int, reason, inText string) {
		t.Helper()
		if resp.StatusCode != status {
			raw, _ := io.ReadAll(resp.Body)
			t.Fatalf("status %d (%s), want %d %s", resp.StatusCode, raw, status, reason)
		}
		e := decode[httpjson.ErrorBody](t, resp)
		if e.Reason != reason || !strings.Contains(e.Error, inText) {
			t.Errorf("refusal %+v, want reason %s and %q in the message", e, reason, inText)
		}
	}

	// The steps show the gate: its approvers, message and deadline (24h by default).
	steps := decode[userapi.StepList](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/release-7/steps", viewer, nil))
	if g := steps.Items[1].Gate; g == nil || g.Message != "ship it?" || len(g.Approvers) != 2 || g.Approvers[1] != (userapi.Approver{Kind: "User", Name: sa("bob")}) ||
		g.OnTimeout != "Reject" || g.Deadline == nil || g.Deadline.Sub(run.Status.Steps[1].StartTime.Time) != 24*time.Hour {
		t.Errorf("prod's gate %+v", g)
	}
	if steps.Items[0].Gate != nil || steps.Items[1].Approval != nil || steps.Items[1].Phase != "Waiting" {
		t.Errorf("steps %+v", steps.Items)
	}

	// RBAC first: a viewer may not decide, even a gate naming nobody.
	refused(e.do("POST", path("release-7", "prod", "approve"), viewer, body("")), http.StatusForbidden, "Forbidden", "runs/approve")
	// Then the approvers: carol may approve runs, but this gate names alice and bob.
	refused(e.do("POST", path("release-7", "prod", "reject"), carol, body("no")), http.StatusForbidden, "NotAnApprover", "User "+sa("alice")+", User "+sa("bob"))
	// What a request names must be a waiting gate.
	refused(e.do("POST", path("release-7", "nope", "approve"), alice, nil), http.StatusNotFound, "NotFound", "no step nope")
	refused(e.do("POST", path("release-8", "prod", "approve"), alice, nil), http.StatusNotFound, "NotFound", "run not found")
	refused(e.do("POST", path("release-7", "deploy", "approve"), alice, nil), http.StatusConflict, "NotAGate", "not an approval gate")
	refused(e.do("POST", path("release-7", "prod", "approve"), alice, body(strings.Repeat("x", 1025))), http.StatusRequestEntityTooLarge, "TooLarge", "1024 bytes")
	refused(e.do("POST", path("release-7", "prod", "approve"), alice, body("ok\x1b[2J")), http.StatusBadRequest, "BadRequest", "control characters")
	refused(e.do("POST", path("release-7", "prod", "approve"), alice, []byte("{")), http.StatusBadRequest, "BadRequest", "DecisionRequest")
	if got, _ := testStore.Approvals(e.ctx, string(run.UID)); len(got) != 0 {
		t.Fatalf("refused requests recorded %+v", got)
	}

	// alice approves: recorded in the store, the Run's annotation changed.
	resp := e.do("POST", path("release-7", "prod", "approve"), alice, body("  LGTM\r\nship  "))
	if resp.StatusCode != http.StatusOK {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("approve: %d %s", resp.StatusCode, raw)
	}
	d := decode[userapi.Decision](t, resp)
	if d.Namespace != ns || d.Run != "release-7" || d.Step != "prod" || d.Decision != "Approved" || d.By != sa("alice") || d.Comment != "LGTM\nship" ||
		d.Time.IsZero() || d.TimedOut {
		t.Errorf("decision %+v", d)
	}
	recorded, err := testStore.Approvals(e.ctx, string(run.UID))
	if a := recorded["prod"]; err != nil || len(recorded) != 1 || a.Decision != "Approved" || a.By != sa("alice") || a.Comment != "LGTM\nship" {
		t.Fatalf("store %+v, %v", recorded, err)
	}
	annotation := func() string {
		t.Helper()
		r := &aiasv1alpha1.Run{}
		if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: ns, Name: "release-7"}, r); err != nil {
			t.Fatal(err)
		}
		return r.Annotations[aiasv1alpha1.AnnotationApprovalDecided]
	}
	first := annotation()
	if !strings.HasPrefix(first, "prod@") {
		t.Errorf("annotation %s = %q, want prod@<time>", aiasv1alpha1.AnnotationApprovalDecided, first)
	}

	// The same request again (a retry) is the same decision, and wakes the Run again.
	again := decode[userapi.Decision](t, e.do("POST", path("release-7", "prod", "approve"), alice, body("LGTM\nship")))
	if !again.Time.Equal(d.Time) || again.By != d.By {
		t.Errorf("repeated: %+v, want %+v", again, d)
	}
	if got := annotation(); got == first || !strings.HasPrefix(got, "prod@") {
		t.Errorf("annotation after the retry %q (was %q)", got, first)
	}
	// Anything else is a second decision: 409 with the first.
	for _, tc := range []struct{ token, verb, comment string }{{bob, "reject", "not on a Friday"}, {alice, "reject", ""}, {alice, "approve", "other words"}} {
		resp := e.do("POST", path("release-7", "prod", tc.verb), tc.token, body(tc.comment))
		if resp.StatusCode != http.StatusConflict {
			t.Fatalf("second decision (%s %q): %d", tc.verb, tc.comment, resp.StatusCode)
		}
		c := decode[userapi.DecisionConflict](t, resp)
		if c.Reason != "AlreadyDecided" || c.Decision.By != sa("alice") || c.Decision.Decision != "Approved" || c.Decision.Comment != "LGTM\nship" ||
			!strings.Contains(c.Error, "approved by "+sa("alice")) {
			t.Errorf("second decision (%s %q): %+v", tc.verb, tc.comment, c)
		}
	}

	// A gate that names a group: its members decide; carol rejects, with a comment.
	group := aiasv1alpha1.ApprovalGate{Approvers: []aiasv1alpha1.Approver{{Kind: "Group", Name: "system:serviceaccounts:" + ns}}}
	e.seedGateRun(ns, "release-9", group, nil)
	d = decode[userapi.Decision](t, e.do("POST", path("release-9", "prod", "reject"), carol, body("not on a Friday")))
	if d.Decision != "Rejected" || d.By != sa("carol") || d.Comment != "not on a Friday" {
		t.Errorf("reject: %+v", d)
	}

	// Not waiting: not reached yet, or the Run already ended.
	e.seedGateRun(ns, "early", named, func(s *aiasv1alpha1.RunStatus) {
		s.Phase, s.Steps[0].Phase, s.Steps[1].Phase, s.Steps[1].StartTime = aiasv1alpha1.RunRunning, aiasv1alpha1.StepRunning, aiasv1alpha1.StepPending, nil
	})
	refused(e.do("POST", path("early", "prod", "approve"), alice, nil), http.StatusConflict, "NotWaiting", "not been reached yet")
	e.seedGateRun(ns, "canceled", named, func(s *aiasv1alpha1.RunStatus) {
		s.Phase, s.Steps[1].Phase = aiasv1alpha1.RunCanceled, aiasv1alpha1.StepCanceled
	})
	refused(e.do("POST", path("canceled", "prod", "approve"), alice, nil), http.StatusConflict, "NotWaiting", "ended Canceled")
	// Past its deadline the timeout decides, even before the controller applied it.
	short := named
	short.Timeout = &metav1.Duration{Duration: time.Second}
	e.seedGateRun(ns, "late", short, func(s *aiasv1alpha1.RunStatus) {
		s.Steps[1].StartTime = &metav1.Time{Time: time.Now().Add(-time.Minute)}
	})
	refused(e.do("POST", path("late", "prod", "approve"), alice, nil), http.StatusConflict, "NotWaiting", "waited its timeout (1s)")

	// A decision the controller applied (here the timeout's) stands, and the steps show it.
	decidedAt := metav1.NewTime(time.Now().Add(-time.Minute).Truncate(time.Second))
	e.seedGateRun(ns, "timed-out", named, func(s *aiasv1alpha1.RunStatus) {
		s.Phase, s.Steps[1].Phase, s.Steps[1].CompletionTime = aiasv1alpha1.RunFailed, aiasv1alpha1.StepFailed, &decidedAt
		s.Steps[1].Approval = &aiasv1alpha1.ApprovalStatus{Decision: "Rejected", Time: decidedAt, TimedOut: true, Comment: "no decision within 24h0m0s (onTimeout: Reject)"}
	})
	resp = e.do("POST", path("timed-out", "prod", "approve"), alice, nil)
	if c := decode[userapi.DecisionConflict](t, resp); resp.StatusCode != http.StatusConflict || c.Reason != "AlreadyDecided" || !c.Decision.TimedOut ||
		!strings.Contains(c.Error, "rejected by its timeout") {
		t.Errorf("a timed-out gate: %d %+v", resp.StatusCode, c)
	}
	detail := decode[userapi.RunDetail](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/timed-out", viewer, nil))
	if a := detail.Steps[1].Approval; a == nil || a.Decision != "Rejected" || !a.TimedOut || !a.Time.Equal(decidedAt.Time) || a.Comment == "" {
		t.Errorf("the run's steps show the decision %+v", a)
	}
	if g := detail.Steps[1].Gate; g == nil || g.Deadline != nil {
		t.Errorf("a decided gate %+v: want no deadline", g)
	}
}
