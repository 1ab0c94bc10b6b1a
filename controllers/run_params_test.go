package controllers

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Parameters reach the step's image, args and env (and AIAS_PARAM_*); defaults fill in;
// a Run missing a required one, naming an undeclared one or outside an enum ends
// Rejected naming it; the frozen spec's digest covers the values.
func TestRunParams(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("deploy", aiasv1alpha1.WorkflowSpec{
		Params: []aiasv1alpha1.WorkflowParam{
			{Name: "branch", Required: true},
			{Name: "target", Default: ptr.To("staging"), Enum: []string{"staging", "prod"}},
		},
		Steps: []aiasv1alpha1.WorkflowStep{{
			Name: "a", Image: "busybox:$(params.target)", Command: []string{"sh", "-c"},
			Args: []string{"echo deploying $(params.branch) to $(params.target)"},
			Env:  []corev1.EnvVar{{Name: "REF", Value: "refs/heads/$(params.branch)"}},
		}},
	})
	h.runWithParams("p1", "deploy", map[string]string{"branch": "main"})
	job := h.waitJobs("p1", "p1-a-1")["p1-a-1"]
	c := job.Spec.Template.Spec.Containers[0]
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if c.Image != "busybox:staging" || c.Args[0] != "echo deploying main to staging" || env["REF"] != "refs/heads/main" ||
		env["AIAS_PARAM_BRANCH"] != "main" || env["AIAS_PARAM_TARGET"] != "staging" {
		t.Errorf("image %q, args %q, env %v", c.Image, c.Args, env)
	}

	h.runWithParams("p2", "deploy", map[string]string{"branch": "main"})
	h.runWithParams("p3", "deploy", map[string]string{"branch": "dev"})
	h.waitJobs("p2", "p2-a-1")
	h.waitJobs("p3", "p3-a-1")
	h.waitPhase("p2", aiasv1alpha1.RunRunning)
	h.waitPhase("p3", aiasv1alpha1.RunRunning)
	d1, d2, d3 := h.get("p1").Status.SpecDigest, h.get("p2").Status.SpecDigest, h.get("p3").Status.SpecDigest
	if d1 == "" || d1 != d2 || d1 == d3 {
		t.Errorf("spec digests %s %s %s: same params must share one, other params must not", d1, d2, d3)
	}

	for name, tc := range map[string]struct {
		params map[string]string
		want   string
	}{
		"missing":    {map[string]string{"target": "prod"}, `parameter "branch" is required`},
		"undeclared": {map[string]string{"branch": "main", "colour": "red"}, `parameter "colour" is not declared`},
		"enum":       {map[string]string{"branch": "main", "target": "qa"}, `parameter "target" is "qa", not one of "staging", "prod"`},
	} {
		h.runWithParams(name, "deploy", tc.params)
		run := h.waitPhase(name, aiasv1alpha1.RunRejected)
		if c := readyCondition(run); c == nil || c.Reason != "InvalidParams" || !strings.Contains(run.Status.Message, tc.want) {
			t.Errorf("%s: ready %+v, message %q", name, c, run.Status.Message)
		}
		if len(h.jobs(name)) != 0 {
			t.Errorf("%s: a rejected Run has Jobs", name)
		}
	}

	// The schema bounds a Run's params: names and sizes.
	bad := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: h.ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "deploy"},
			Params: map[string]string{"branch": strings.Repeat("x", 4097), "not-a-name": "1"}}}
	err := h.c.Create(h.ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "spec.params") || !strings.Contains(err.Error(), "at most 4096 bytes") || !strings.Contains(err.Error(), "letters, digits and underscores") {
		t.Errorf("oversized params: %v", err)
	}
}

// A Workflow reading a parameter it does not declare is not Ready, naming the field.
func TestWorkflowUndeclaredParam(t *testing.T) {
	h := startWorkflowController(t, nil)
	h.createWorkflow("typo", aiasv1alpha1.WorkflowSpec{
		Params: []aiasv1alpha1.WorkflowParam{{Name: "branch"}},
		Steps:  []aiasv1alpha1.WorkflowStep{{Name: "a", Image: "busybox", Command: []string{"echo"}, Args: []string{"$(params.brnach)"}}},
	})
	c := h.waitReady("typo", metav1.ConditionFalse, aiasv1alpha1.ReasonUndeclaredParam)
	if !strings.Contains(c.Message, "spec.steps[0].args[0]: $(params.brnach)") {
		t.Errorf("message %q", c.Message)
	}
}

func (h *rtHarness) runWithParams(name, workflow string, params map[string]string) *aiasv1alpha1.Run {
	h.t.Helper()
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: workflow}, Params: params}}
	if err := h.c.Create(h.ctx, run); err != nil {
		h.t.Fatal(err)
	}
	return run
}
