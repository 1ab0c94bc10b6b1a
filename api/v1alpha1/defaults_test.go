package v1alpha1_test

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// The schema fills the documented defaults, so controllers and users read the same values.
func TestSchemaDefaults(t *testing.T) {
	ctx := context.Background()
	ep := &aiasv1alpha1.WebhookEndpoint{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: testNamespace},
		Spec:       aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "build"}},
	}
	if err := env.Client.Create(ctx, ep); err != nil {
		t.Fatal(err)
	}
	v := ep.Spec.Verification
	if v.Scheme != aiasv1alpha1.SchemeStandardWebhooks || v.Tolerance == nil || v.Tolerance.Duration.String() != "5m0s" {
		t.Errorf("verification defaults = %+v, want StandardWebhooks with 5m tolerance", v)
	}
	if ep.Spec.MaxBodyBytes == nil || *ep.Spec.MaxBodyBytes != 1<<20 {
		t.Errorf("maxBodyBytes default = %v, want 1Mi", ep.Spec.MaxBodyBytes)
	}

	wf := &aiasv1alpha1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Name: "defaults", Namespace: testNamespace},
		Spec: aiasv1alpha1.WorkflowSpec{
			Steps: []aiasv1alpha1.WorkflowStep{
				{Name: "a", Image: "busybox", Command: []string{"true"}, Retries: &aiasv1alpha1.RetryPolicy{Limit: 2, Backoff: &aiasv1alpha1.RetryBackoff{}}},
				// An explicit empty dependsOn makes a second root; it must survive the round trip.
				{Name: "b", Image: "busybox", Command: []string{"true"}, DependsOn: []string{}},
				{Name: "c", Image: "busybox", Command: []string{"true"}, DependsOn: []string{"a", "b"}},
			},
			Concurrency: &aiasv1alpha1.ConcurrencyPolicy{},
		},
	}
	if err := env.Client.Create(ctx, wf); err != nil {
		t.Fatal(err)
	}
	got := &aiasv1alpha1.Workflow{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(wf), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.Concurrency.Policy != aiasv1alpha1.ConcurrencyAllow {
		t.Errorf("concurrency policy default = %q, want Allow", got.Spec.Concurrency.Policy)
	}
	b := got.Spec.Steps[0].Retries.Backoff
	if b == nil || b.Duration.Duration.String() != "10s" || *b.Factor != 2 || b.MaxDuration.Duration.String() != "5m0s" {
		t.Errorf("backoff defaults = %+v, want 10s x2 up to 5m", b)
	}
	if got.Spec.Steps[0].DependsOn != nil {
		t.Errorf("step a dependsOn = %#v, want absent (the previous step)", got.Spec.Steps[0].DependsOn)
	}
	if deps := got.Spec.Steps[1].DependsOn; deps == nil || len(deps) != 0 {
		t.Errorf("step b dependsOn = %#v, want an empty, present list", deps)
	}

	tenant := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "defaults"}}
	if err := env.Client.Create(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	if tenant.Spec.DeletionPolicy != aiasv1alpha1.DeletionRetain {
		t.Errorf("deletionPolicy default = %q, want Retain", tenant.Spec.DeletionPolicy)
	}
}

// A Run's spec is frozen at creation; only cancel may change, and only to true.
func TestRunSpecIsImmutableExceptCancel(t *testing.T) {
	ctx := context.Background()
	run := &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{Name: "immutable", Namespace: testNamespace},
		Spec: aiasv1alpha1.RunSpec{
			WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "build"},
			Input:       ptr.To(`{"ref":"main"}`),
			Trigger:     &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerManual},
		},
	}
	if err := env.Client.Create(ctx, run); err != nil {
		t.Fatal(err)
	}

	edits := []struct {
		name string
		edit func(*aiasv1alpha1.Run)
		want string
	}{
		{"change input", func(r *aiasv1alpha1.Run) { r.Spec.Input = ptr.To(`{"ref":"evil"}`) }, "input is immutable"},
		{"drop input", func(r *aiasv1alpha1.Run) { r.Spec.Input = nil }, "input is immutable"},
		{"change workflow", func(r *aiasv1alpha1.Run) { r.Spec.WorkflowRef.Name = "deploy" }, "workflowRef is immutable"},
		{"change trigger", func(r *aiasv1alpha1.Run) { r.Spec.Trigger.Type = aiasv1alpha1.TriggerReplay; r.Spec.ReplayOf = "x" }, "trigger is immutable"},
	}
	for _, e := range edits {
		t.Run(e.name, func(t *testing.T) {
			r := run.DeepCopy()
			e.edit(r)
			err := env.Client.Update(ctx, r)
			if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), e.want) {
				t.Fatalf("update error = %v, want Invalid saying %q", err, e.want)
			}
		})
	}

	run.Spec.Cancel = true
	if err := env.Client.Update(ctx, run); err != nil {
		t.Fatalf("setting cancel: %v", err)
	}
	run.Spec.Cancel = false
	if err := env.Client.Update(ctx, run); !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "cancel cannot be unset") {
		t.Fatalf("unsetting cancel: error = %v, want Invalid", err)
	}
}
