package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// The confused deputy: whoever may write a Workflow must not reach, through the
// manager's rights, a Secret or ServiceAccount nobody shared with Workflows. A step whose
// env reads an unshared Secret, or a Workflow running as an unshared ServiceAccount, gets
// no Pod (the attempt fails naming the object and the label); once shared, it runs.
func TestRunUnsharedSecretIsRefused(t *testing.T) {
	h := newRunHarness(t)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "db"}, Data: map[string][]byte{"password": []byte("hunter2")}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "deployer"}}
	for _, o := range []client.Object{secret, sa} {
		if err := h.c.Create(h.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	leak := step("leak")
	leak.Env = []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}}}
	h.workflow("env-secret", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{leak}})
	h.workflow("as-sa", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}, ServiceAccountName: "deployer"})

	for run, want := range map[string]string{"by-env": `Secret "db" is not shared with workflows`, "by-sa": `ServiceAccount "deployer" is not shared with workflows`} {
		wf := map[string]string{"by-env": "env-secret", "by-sa": "as-sa"}[run]
		h.run(run, wf, "")
		got := h.waitPhase(run, aiasv1alpha1.RunFailed)
		if msg := got.Status.Steps[0].Message; !strings.Contains(msg, want) || !strings.Contains(msg, aiasv1alpha1.LabelWorkflowAccess) || strings.Contains(msg, "hunter2") {
			t.Errorf("%s: step message %q, want it to contain %q and the label", run, msg, want)
		}
		if n := len(h.pods(run)); n != 0 {
			t.Errorf("%s: %d pods for a refused attempt", run, n)
		}
	}

	for _, o := range []client.Object{secret, sa} {
		o.SetLabels(map[string]string{aiasv1alpha1.LabelWorkflowAccess: aiasv1alpha1.WorkflowAccessAllowed})
		if err := h.c.Update(h.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	for run, wf := range map[string]string{"shared-env": "env-secret", "shared-sa": "as-sa"} {
		h.run(run, wf, "")
		name := jobName(run, map[string]string{"shared-env": "leak", "shared-sa": "a"}[run], 1)
		var pod *corev1.Pod
		h.eventually(10*time.Second, run+"'s Pod", func() (bool, string) { pod = h.pods(run)[name]; return pod != nil, "" })
		if run == "shared-sa" && pod.Spec.ServiceAccountName != "deployer" {
			t.Errorf("pod runs as %q", pod.Spec.ServiceAccountName)
		}
		h.finishJob(run, name, 0, "")
		h.waitPhase(run, aiasv1alpha1.RunSucceeded)
	}
}
