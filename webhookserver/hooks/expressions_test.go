package hooks_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/signature"
)

// A GitHub push to refs/heads/dev is filtered (200 "filtered", no Run, no ledger row);
// one to main starts a Run whose params hold branch=main and the commit; an expression
// failing on a delivery answers 422 naming the field; an unsigned delivery is never
// evaluated (401 whatever its body).
func TestHookFilterAndParams(t *testing.T) {
	h := newHookEnv(t)
	h.endpoint("github", aiasv1alpha1.Verification{Scheme: aiasv1alpha1.SchemeGitHub}, func(ep *aiasv1alpha1.WebhookEndpoint) {
		ep.Spec.Filter = `body.ref.startsWith("refs/heads/") && body.ref != "refs/heads/dev"`
		ep.Spec.Params = map[string]string{"branch": `body.ref.split("/")[2]`, "sha": "body.after", "event": `headers["x-github-event"]`}
	}, map[string]string{"secret": "gh-secret"})
	gh := signature.Config{Scheme: signature.GitHub}
	post := func(id, body string) (int, map[string]any) {
		headers := sign(t, gh, "gh-secret", id, []byte(body), time.Now())
		headers.Set("X-GitHub-Event", "push")
		return h.post("github", headers, []byte(body))
	}

	if code, out := post("d-dev", `{"ref":"refs/heads/dev","after":"111"}`); code != http.StatusOK || out["status"] != "filtered" || out["run"] != nil {
		t.Errorf("dev push: %d %v", code, out)
	}
	var rows int
	if err := testStore.Pool().QueryRow(h.ctx, `select count(*) from deliveries where namespace = $1`, h.ns).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("a filtered delivery left %d ledger rows (%v)", rows, err)
	}
	code, out := post("d-main", `{"ref":"refs/heads/main","after":"222"}`)
	if code != http.StatusAccepted || out["status"] != "created" {
		t.Fatalf("main push: %d %v", code, out)
	}
	runs := h.runs()
	if len(runs) != 1 {
		t.Fatalf("%d runs, want 1", len(runs))
	}
	if p := runs[0].Spec.Params; p["branch"] != "main" || p["sha"] != "222" || p["event"] != "push" || len(p) != 3 {
		t.Errorf("run params = %v", p)
	}
	// Evaluation fails on this body (no after field): 422 naming the expression.
	if code, out := post("d-odd", `{"ref":"refs/heads/main"}`); code != http.StatusUnprocessableEntity || out["reason"] != "ExpressionFailed" ||
		!strings.Contains(fmt.Sprint(out["error"]), "spec.params.sha") {
		t.Errorf("failing expression: %d %v", code, out)
	}
	// Not JSON: the filter sees text, on which .ref fails, so 422 too; unsigned: 401.
	if code, _ := post("d-text", `ref=refs/heads/main`); code != http.StatusUnprocessableEntity {
		t.Errorf("text body: %d", code)
	}
	forged := []byte(`{"ref":"refs/heads/main","after":"333"}`)
	if code, _ := h.post("github", sign(t, gh, "not-the-secret", "d-forged", forged, time.Now()), forged); code != http.StatusUnauthorized {
		t.Errorf("forged delivery: %d", code)
	}
	if n := len(h.runs()); n != 1 {
		t.Errorf("%d runs, want 1", n)
	}
	h.assertLogsClean("gh-secret")
}

// An endpoint whose expression does not compile answers 422 InvalidExpression (its
// Ready condition, set by the controller, says the same).
func TestHookInvalidExpression(t *testing.T) {
	h := newHookEnv(t)
	h.endpoint("broken", aiasv1alpha1.Verification{}, func(ep *aiasv1alpha1.WebhookEndpoint) {
		ep.Spec.Filter = `body.ref ==`
	}, map[string]string{"secret": testSecret})
	body := []byte(`{"ref":"x"}`)
	code, out := h.post("broken", sign(t, std, testSecret, "msg_1", body, time.Now()), body)
	if code != http.StatusUnprocessableEntity || out["reason"] != "InvalidExpression" || !strings.Contains(fmt.Sprint(out["error"]), "spec.filter") {
		t.Errorf("%d %v", code, out)
	}
}
