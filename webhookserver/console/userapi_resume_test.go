package console_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// Resume: an editor resumes a Failed Run (201: a Run named <run>-resume-…, trigger Resume,
// spec.resumeOf, the original's params and input; the same Idempotency-Key again finds
// it, 200) and a Canceled one; a viewer may not (403); a Run still running is 409
// NotFinished, one that Succeeded or was Rejected 409 NothingToResume. The resumed Run's
// detail names the original, and its cached steps the attempt they took.
func TestUserAPIResume(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("resume")
	e.namespace(ns)
	editor := e.member(ns, "editor", "editor")
	viewer := e.member(ns, "viewer", "viewer")
	ended := func(name string, phase aiasv1alpha1.RunPhase) *aiasv1alpha1.Run {
		t.Helper()
		run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: aiasv1alpha1.RunSpec{
			WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}, Input: ptr.To(`{"n":1}`),
			Params: map[string]string{"branch": "main", "target": "prod"}}}
		if err := e.c.Create(e.ctx, run); err != nil {
			t.Fatal(err)
		}
		now := metav1.Now()
		run.Status = aiasv1alpha1.RunStatus{Phase: phase, StartTime: &now, CompletionTime: &now, Steps: []aiasv1alpha1.StepStatus{
			{Name: "a", Phase: aiasv1alpha1.StepSucceeded, Attempts: 2, OutputDigest: "sha256:" + strings.Repeat("a", 64)},
			{Name: "b", Phase: aiasv1alpha1.StepFailed, Attempts: 1, ExitCode: ptr.To[int32](2)}}}
		if err := e.c.Status().Update(e.ctx, run); err != nil {
			t.Fatal(err)
		}
		return run
	}
	ended("failed", aiasv1alpha1.RunFailed)
	ended("canceled", aiasv1alpha1.RunCanceled)
	ended("ok", aiasv1alpha1.RunSucceeded)
	ended("rejected", aiasv1alpha1.RunRejected)
	e.seedRun(ns, "live", aiasv1alpha1.RunRunning)
	path := func(run string) string { return "/api/v1/namespaces/" + ns + "/runs/" + run + "/resume" }

	resp := e.do("POST", path("failed"), editor, nil, "Idempotency-Key", "k1")
	if resp.StatusCode != http.StatusCreated {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("resume: %d %s", resp.StatusCode, raw)
	}
	ref := decode[userapi.RunRef](t, resp)
	if ref.Namespace != ns || ref.Status != "created" || !strings.HasPrefix(ref.Run, "failed-resume-") {
		t.Errorf("resume answered %+v", ref)
	}
	again := e.do("POST", path("failed"), editor, nil, "Idempotency-Key", "k1")
	if again.StatusCode != http.StatusOK || decode[userapi.RunRef](t, again).Run != ref.Run {
		t.Errorf("the same Idempotency-Key did not find the first resume (%d)", again.StatusCode)
	}
	other := decode[userapi.RunRef](t, e.do("POST", path("failed"), editor, nil, "Idempotency-Key", "k2"))
	if other.Run == ref.Run || !strings.HasPrefix(other.Run, "failed-resume-") {
		t.Errorf("another key made %q (first %q)", other.Run, ref.Run)
	}
	res := &aiasv1alpha1.Run{}
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: ns, Name: ref.Run}, res); err != nil {
		t.Fatal(err)
	}
	if res.Spec.ResumeOf != "failed" || res.Spec.ReplayOf != "" || res.Spec.Trigger == nil || res.Spec.Trigger.Type != aiasv1alpha1.TriggerResume ||
		res.Spec.WorkflowRef.Name != "wf" || res.Spec.Input == nil || *res.Spec.Input != `{"n":1}` || res.Spec.InputRef != nil ||
		len(res.Spec.Params) != 2 || res.Spec.Params["branch"] != "main" || res.Spec.Params["target"] != "prod" {
		t.Errorf("resume spec %+v", res.Spec)
	}

	for _, tc := range []struct {
		who, token, run string
		want            int
		reason          string
	}{
		{"editor", editor, "canceled", http.StatusCreated, ""},
		{"viewer", viewer, "failed", http.StatusForbidden, "Forbidden"},
		{"editor", editor, "live", http.StatusConflict, "NotFinished"},
		{"editor", editor, "ok", http.StatusConflict, "NothingToResume"},
		{"editor", editor, "rejected", http.StatusConflict, "NothingToResume"},
		{"editor", editor, "missing", http.StatusNotFound, "NotFound"},
	} {
		resp := e.do("POST", path(tc.run), tc.token, nil)
		if resp.StatusCode != tc.want {
			raw, _ := io.ReadAll(resp.Body)
			t.Errorf("%s resumes %s: %d %s, want %d", tc.who, tc.run, resp.StatusCode, raw, tc.want)
			continue
		}
		if tc.reason != "" {
			if body := decode[httpjson.ErrorBody](t, resp); body.Reason != tc.reason || body.Error == "" {
				t.Errorf("%s resumes %s: %+v, want reason %s", tc.who, tc.run, body, tc.reason)
			}
		}
	}

	// As the controller would: step a took the original's outputs, b runs again.
	now := metav1.Now()
	res.Status = aiasv1alpha1.RunStatus{Phase: aiasv1alpha1.RunRunning, StartTime: &now, Steps: []aiasv1alpha1.StepStatus{
		{Name: "a", Phase: aiasv1alpha1.StepSucceeded, OutputDigest: "sha256:" + strings.Repeat("a", 64),
			CachedFrom: &aiasv1alpha1.CachedFrom{Run: "failed", Step: "a", Attempt: 2}},
		{Name: "b", Phase: aiasv1alpha1.StepRunning, Attempts: 1}}}
	if err := e.c.Status().Update(e.ctx, res); err != nil {
		t.Fatal(err)
	}
	d := decode[userapi.RunDetail](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/"+ref.Run, viewer, nil))
	if d.ResumeOf != "failed" || d.ReplayOf != "" || d.Trigger != "Resume" || d.Replay != nil || len(d.Steps) != 2 {
		t.Fatalf("resumed run's detail %+v", d)
	}
	if c := d.Steps[0].CachedFrom; c == nil || *c != (userapi.CachedFrom{Run: "failed", Step: "a", Attempt: 2}) || d.Steps[1].CachedFrom != nil {
		t.Errorf("steps %+v", d.Steps)
	}
	steps := decode[userapi.StepList](t, e.do("GET", "/api/v1/namespaces/"+ns+"/runs/"+ref.Run+"/steps", viewer, nil))
	if len(steps.Items) != 2 || steps.Items[0].CachedFrom == nil || steps.Items[0].CachedFrom.Run != "failed" {
		t.Errorf("steps route %+v", steps.Items)
	}
}
