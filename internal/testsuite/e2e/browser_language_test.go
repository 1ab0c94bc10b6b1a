package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/testrig/browsertest"
)

// TestBrowserWorkflowLanguage shows the workflow language's shapes on a run page in a real
// browser: a fanned-out step as one node counting its items, a step skipped by its when,
// and an approval gate waiting, which the user approves with a comment from the page;
// the Run then goes on to Succeeded and the page shows who approved.
func TestBrowserWorkflowLanguage(t *testing.T) {
	bg := context.Background()
	sh := func(name, script string, deps ...string) aiasv1alpha1.WorkflowStep {
		return aiasv1alpha1.WorkflowStep{Name: name, Image: "debian:bookworm-slim", Command: []string{"sh", "-c", script, "sh"}, DependsOn: deps}
	}
	fan := sh("fan", `printf '{"n":%s}' "$1"`, "first")
	fan.ForEach, fan.Args = "[1, 2, 3]", []string{"$(item)"}
	skip := sh("skipped", "echo never", "fan")
	skip.When = `params.env == "production"`
	gate := aiasv1alpha1.WorkflowStep{Name: "ship", DependsOn: []string{"fan"}, Approval: &aiasv1alpha1.ApprovalGate{Message: "ship the three items?"}}
	after := sh("after", `cat "$AIAS_INPUT"`, "ship")
	wf := &aiasv1alpha1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Namespace: sampleNS, Name: "browser-lang"},
		Spec: aiasv1alpha1.WorkflowSpec{
			Params: []aiasv1alpha1.WorkflowParam{{Name: "env", Default: ptrTo("staging")}},
			Steps:  []aiasv1alpha1.WorkflowStep{sh("first", "echo go", []string{}...), fan, skip, gate, after},
		},
	}
	run := &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{Namespace: sampleNS, Name: "browser-lang-1"},
		Spec:       aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: wf.Name}},
	}
	for _, obj := range []client.Object{wf, run} {
		if err := stack.Client.Create(bg, obj); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { // leave acme as the other tests expect it
		_ = stack.Client.Delete(bg, run)
		_ = stack.Client.Delete(bg, wf)
	})
	waitRunPhase(t, sampleNS, run.Name, aiasv1alpha1.RunWaiting, 2*time.Minute)

	ctx, b := openConsole(t, "/#/ns/acme/runs/"+run.Name)
	node := func(step string) string {
		return `document.querySelector('#steps svg#dag g.node[data-step="` + step + `"]')`
	}
	b.waitJS("the five nodes", `document.querySelectorAll('#steps svg#dag g.node[data-step]').length === 5`, 0)
	b.waitJS("the fanned-out node with its three items", node("fan")+`?.classList.contains('fanned') && `+node("fan")+`.dataset.items === '3'`, 0)
	if sub := b.eval(node("fan") + `.querySelector('text.sub').textContent`); !strings.Contains(sub, "3") {
		t.Errorf("fanned-out node reads %q, want its item count", sub)
	}
	if phase := b.eval(node("skipped") + `.dataset.phase`); phase != "Skipped" {
		t.Errorf("skipped node phase %q", phase)
	}
	b.waitJS("the waiting gate", node("ship")+`?.classList.contains('gate') && `+node("ship")+`.dataset.phase === 'Waiting'`, 0)
	if got := b.text(`#run-phase .badge`); got != "Waiting" {
		t.Errorf("run phase %q, want Waiting", got)
	}
	b.waitJS("the gate's box with its question", `!!document.querySelector('.gate[data-step="ship"] button.approve') && document.querySelector('.gate[data-step="ship"]').textContent.includes('ship the three items?')`, 0)
	browsertest.Screenshot(t, ctx, "01-language-waiting")
	b.do("approve with a comment",
		chromedp.SetValue(chromedp.CSS(`.gate[data-step="ship"] textarea`), "three looks right"),
		chromedp.Click(chromedp.CSS(`.gate[data-step="ship"] button.approve`)))

	done := waitRunPhase(t, sampleNS, run.Name, aiasv1alpha1.RunSucceeded, 2*time.Minute)
	var shipped *aiasv1alpha1.StepStatus
	for i := range done.Status.Steps {
		if done.Status.Steps[i].Name == "ship" {
			shipped = &done.Status.Steps[i]
		}
	}
	if shipped == nil || shipped.Approval == nil || shipped.Approval.Comment != "three looks right" || shipped.Approval.By == "" {
		t.Fatalf("gate status %+v", shipped)
	}
	b.waitJS("the decision on the page", `document.querySelector('.gate[data-step="ship"] .gate-decision')?.dataset.decision === 'Approved'`, time.Minute)
	browsertest.Screenshot(t, ctx, "02-language-approved")
}

func ptrTo[T any](v T) *T { return &v }
