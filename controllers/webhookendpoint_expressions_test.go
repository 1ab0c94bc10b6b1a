package controllers

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// An endpoint whose filter does not compile is not Ready, naming the field and the
// error; one whose params fill a parameter the Workflow does not declare is not Ready
// either; fixing both makes it Ready.
func TestWebhookEndpointExpressions(t *testing.T) {
	h := startWebhookEndpointController(t, nil)
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "build"},
		Spec: aiasv1alpha1.WorkflowSpec{Params: []aiasv1alpha1.WorkflowParam{{Name: "branch"}}, Steps: []aiasv1alpha1.WorkflowStep{testStep("a")}}}
	if err := h.c.Create(h.ctx, wf); err != nil {
		t.Fatal(err)
	}
	h.createEndpoint("push", "build", "", aiasv1alpha1.SchemeStandardWebhooks)
	ep := h.getEndpoint("push")
	patch := client.MergeFrom(ep.DeepCopy())
	ep.Spec.Filter = `body.ref == `
	ep.Spec.Params = map[string]string{"branch": `body.ref.split("/")[2]`, "sha": "body.after"}
	if err := h.c.Patch(h.ctx, ep, patch); err != nil {
		t.Fatal(err)
	}
	h.waitReady("push", metav1.ConditionFalse, aiasv1alpha1.ReasonInvalidExpression, "spec.filter: ", "Syntax error")
	h.waitReady("push", metav1.ConditionFalse, aiasv1alpha1.ReasonInvalidExpression, `spec.params: Workflow "build" declares no parameter sha`)

	ep = h.getEndpoint("push")
	patch = client.MergeFrom(ep.DeepCopy())
	ep.Spec.Filter = `body.ref == "refs/heads/main"`
	delete(ep.Spec.Params, "sha")
	if err := h.c.Patch(h.ctx, ep, patch); err != nil {
		t.Fatal(err)
	}
	if got := h.getEndpoint("push").Spec.Params; len(got) != 1 {
		t.Fatalf("params after the patch: %v", got)
	}
	h.waitReady("push", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
}
