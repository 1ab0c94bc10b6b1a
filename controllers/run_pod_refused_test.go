package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// A step Pod the apiserver keeps refusing for a while (here a ResourceQuota of zero
// Pods; in CI it was a brand-new namespace whose default ServiceAccount did not exist
// yet) was never created: once the refusal ends it is created and the Run succeeds.
// Before, after podRecreateWindow the missing Pod was taken for a deleted one and the Run
// failed with "the step's Pod was deleted before it finished".
func TestRunPodRefusedLongerThanTheRecreateWindow(t *testing.T) {
	h := newRunHarness(t)
	quota := &corev1.ResourceQuota{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "no-pods"},
		Spec: corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{corev1.ResourcePods: resource.MustParse("0")}}}
	if err := h.c.Create(h.ctx, quota); err != nil {
		t.Fatal(err)
	}
	h.workflow("wf", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("held", "wf", "")
	name := jobName("held", "a", 1)
	h.waitJobs("held", name)
	time.Sleep(podRecreateWindow + 3*time.Second)
	if run := h.get("held"); run.Status.Phase.Finished() {
		t.Fatalf("the Run ended while its Pod was refused: %s %s", run.Status.Phase, run.Status.Message)
	}
	if n := len(h.pods("held")); n != 0 {
		t.Fatalf("%d pods created past a zero-pod quota", n)
	}
	if err := h.c.Delete(h.ctx, quota); err != nil {
		t.Fatal(err)
	}
	// The controller retries with its error backoff, which has grown to tens of seconds.
	h.eventually(2*time.Minute, "the Pod once the quota is gone", func() (bool, string) { return h.pods("held")[name] != nil, "" })
	h.finishJob("held", name, 0, "")
	h.waitPhase("held", aiasv1alpha1.RunSucceeded)
}
