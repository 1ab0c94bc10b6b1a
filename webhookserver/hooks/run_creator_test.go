package hooks_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/webhookserver/hooks"
)

// The creator that reads nothing back still tells its refusals apart: the listener
// answers AlreadyExists as a duplicate and Invalid as 400, everything else as 503.
func TestRESTRunCreatorRefusals(t *testing.T) {
	ctx := context.Background()
	ns := "creator-refusals"
	if err := testEnv.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	httpClient, err := rest.HTTPClientFor(testEnv.Config)
	if err != nil {
		t.Fatal(err)
	}
	c, err := hooks.NewRESTRunCreator(testEnv.Config, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	input := "{}"
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "r1", Namespace: ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}, Input: &input}}
	if err := c.Create(ctx, run); err != nil {
		t.Fatalf("create: %v", err)
	}
	got := &aiasv1alpha1.Run{}
	if err := testEnv.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: "r1"}, got); err != nil || *got.Spec.Input != input {
		t.Fatalf("the created Run: %v %+v", err, got.Spec)
	}
	if err := c.Create(ctx, run); !apierrors.IsAlreadyExists(err) {
		t.Errorf("second create: %v, want AlreadyExists", err)
	}
	bad := run.DeepCopy()
	bad.Name = "r2"
	bad.Spec.Params = map[string]string{}
	for i := range 65 { // over the schema's cap
		bad.Spec.Params[fmt.Sprintf("p%d", i)] = "v"
	}
	if err := c.Create(ctx, bad); !apierrors.IsInvalid(err) {
		t.Errorf("invalid Run: %v, want Invalid", err)
	}
	if err := c.Create(ctx, &aiasv1alpha1.Workflow{}); err == nil {
		t.Error("a Workflow was accepted by the Run creator")
	}
}
