package controllers

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Composed workflows on the real control plane: a workflowRef step starts a child Run of
// another Workflow (owned by its parent, labelled, with the params the step gives it),
// takes the result of the child's last step, and fails when the child fails; canceling the
// parent cancels its child; a cycle of Workflows ends at the depth limit.
func TestRunChildWorkflows(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	h.workflow("build-and-push", aiasv1alpha1.WorkflowSpec{
		Params: []aiasv1alpha1.WorkflowParam{{Name: "image"}, {Name: "fail", Default: ptrTo("no")}},
		Steps: []aiasv1alpha1.WorkflowStep{
			shStep("build", `[ "$AIAS_PARAM_FAIL" = no ] || { echo "build broke" >&2; exit 5; }; echo built`, []string{}...),
			shStep("push", `printf '{"pushed":"%s"}' "$AIAS_PARAM_IMAGE"`),
		}})
	version := shStep("version", `printf '{"v":"1.2.3"}'`, []string{}...)
	use := func(fail string) aiasv1alpha1.WorkflowStep {
		return aiasv1alpha1.WorkflowStep{Name: "image", DependsOn: []string{"version"},
			WorkflowRef: &aiasv1alpha1.StepWorkflowRef{Name: "build-and-push", Params: map[string]string{"image": "app:$(steps.version.result.v)", "fail": fail}}}
	}
	after := shStep("deploy", `cat`, "image")
	h.workflow("release", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{version, use("no"), after}})
	h.workflow("broken", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{version, use("yes")}})

	h.run("rel-1", "release", "")
	run := h.waitPhaseWithin("rel-1", aiasv1alpha1.RunSucceeded, time.Minute)
	if st := run.Status.Steps[1]; st.ChildRun != "rel-1-image" || st.Phase != aiasv1alpha1.StepSucceeded {
		t.Errorf("image step %+v", st)
	}
	child := h.get("rel-1-image")
	if !metav1.IsControlledBy(child, run) || child.Labels[aiasv1alpha1.LabelParentRun] != "rel-1" || child.Labels[aiasv1alpha1.LabelDepth] != "1" ||
		child.Spec.Params["image"] != "app:1.2.3" || child.Spec.Trigger.Type != aiasv1alpha1.TriggerParent {
		t.Errorf("child run %+v %+v", child.ObjectMeta, child.Spec)
	}
	if got := stepResult(t, run, "deploy"); got != `{"pushed":"app:1.2.3"}` {
		t.Errorf("deploy read %q: the child's last step's result is the step's", got)
	}

	h.run("broken-1", "broken", "")
	run = h.waitPhaseWithin("broken-1", aiasv1alpha1.RunFailed, time.Minute)
	if !strings.HasPrefix(run.Status.Message, "step image failed: child run broken-1-image failed: step build failed:") {
		t.Errorf("parent message %q", run.Status.Message)
	}

	// Canceling the parent cancels the child.
	h.workflow("slow", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{shStep("wait", "sleep 60", []string{}...)}})
	h.workflow("outer", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{Name: "inner", WorkflowRef: &aiasv1alpha1.StepWorkflowRef{Name: "slow"}}}})
	h.run("outer-1", "outer", "")
	h.eventually(time.Minute, "the child runs", func() (bool, string) {
		c := &aiasv1alpha1.Run{}
		err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "outer-1-inner"}, c)
		return err == nil && c.Status.Phase == aiasv1alpha1.RunRunning, string(c.Status.Phase)
	})
	outer := h.get("outer-1")
	patch := client.MergeFrom(outer.DeepCopy())
	outer.Spec.Cancel = true
	if err := h.c.Patch(h.ctx, outer, patch); err != nil {
		t.Fatal(err)
	}
	h.waitPhaseWithin("outer-1", aiasv1alpha1.RunCanceled, time.Minute)
	h.waitPhaseWithin("outer-1-inner", aiasv1alpha1.RunCanceled, time.Minute)

	// A cycle through two Workflows ends at the depth limit with a message.
	h.workflow("ping", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{Name: "p", WorkflowRef: &aiasv1alpha1.StepWorkflowRef{Name: "pong"}}}})
	h.workflow("pong", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{Name: "p", WorkflowRef: &aiasv1alpha1.StepWorkflowRef{Name: "ping"}}}})
	h.run("cyc", "ping", "")
	run = h.waitPhaseWithin("cyc", aiasv1alpha1.RunFailed, time.Minute)
	if !strings.Contains(run.Status.Message, "at most 4 deep") {
		t.Errorf("cycle: message %q", run.Status.Message)
	}
}
