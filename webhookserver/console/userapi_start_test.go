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
)

// A manual Run with parameters: an editor starts it (201; the same Idempotency-Key again
// finds it, 200), a viewer may not (403), a bad value is a 422 naming the parameter, an
// unknown Workflow a 404; the workflow list carries the params a form needs.
func TestUserAPIStartRun(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("start")
	e.namespace(ns)
	editor := e.member(ns, "editor", "editor")
	viewer := e.member(ns, "viewer", "viewer")
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "deploy"}, Spec: aiasv1alpha1.WorkflowSpec{
		Params: []aiasv1alpha1.WorkflowParam{{Name: "branch", Required: true, Description: "git branch"},
			{Name: "target", Default: ptr.To("staging"), Enum: []string{"staging", "prod"}}},
		Steps: []aiasv1alpha1.WorkflowStep{{Name: "a", Image: "busybox", Command: []string{"echo"}}},
	}}
	if err := e.c.Create(e.ctx, wf); err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/namespaces/" + ns + "/workflows/deploy/runs"
	body := []byte(`{"params":{"branch":"main","target":"prod"},"input":"{\"why\":\"hotfix\"}"}`)

	resp := e.do("POST", path, editor, body, "Idempotency-Key", "k1")
	if resp.StatusCode != http.StatusCreated {
		raw, _ := io.ReadAll(resp.Body)
		t.Fatalf("start: %d %s", resp.StatusCode, raw)
	}
	ref := decode[userapi.RunRef](t, resp)
	again := e.do("POST", path, editor, body, "Idempotency-Key", "k1")
	if again.StatusCode != http.StatusOK || decode[userapi.RunRef](t, again).Run != ref.Run {
		t.Errorf("the same Idempotency-Key did not find the first Run")
	}
	run := &aiasv1alpha1.Run{}
	if err := e.c.Get(e.ctx, types.NamespacedName{Namespace: ns, Name: ref.Run}, run); err != nil {
		t.Fatal(err)
	}
	if run.Spec.Params["branch"] != "main" || run.Spec.Params["target"] != "prod" || run.Spec.Trigger.Type != aiasv1alpha1.TriggerManual ||
		run.Spec.Input == nil || *run.Spec.Input != `{"why":"hotfix"}` || !strings.HasPrefix(run.Name, "deploy-manual-") {
		t.Errorf("run %s spec %+v", run.Name, run.Spec)
	}

	for _, tc := range []struct {
		token, path, body string
		want              int
		contains          string
	}{
		{viewer, path, `{"params":{"branch":"main"}}`, http.StatusForbidden, ""},
		{editor, path, `{"params":{"target":"qa","branch":"x"}}`, http.StatusUnprocessableEntity, `parameter \"target\" is \"qa\"`},
		{editor, path, `{"params":{}}`, http.StatusUnprocessableEntity, `parameter \"branch\" is required`},
		{editor, path, `{"params":`, http.StatusBadRequest, ""},
		{editor, "/api/v1/namespaces/" + ns + "/workflows/nope/runs", `{}`, http.StatusNotFound, ""},
	} {
		resp := e.do("POST", tc.path, tc.token, []byte(tc.body))
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != tc.want || !strings.Contains(string(raw), tc.contains) {
			t.Errorf("%s: %d %s, want %d with %q", tc.body, resp.StatusCode, raw, tc.want, tc.contains)
		}
	}

	list := decode[userapi.WorkflowList](t, e.do("GET", "/api/v1/namespaces/"+ns+"/workflows", viewer, nil))
	if len(list.Items) != 1 || len(list.Items[0].Params) != 2 || list.Items[0].Params[0].Description != "git branch" ||
		!list.Items[0].Params[0].Required || *list.Items[0].Params[1].Default != "staging" {
		t.Errorf("workflows = %+v", list.Items)
	}
}
