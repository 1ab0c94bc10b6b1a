package realnode

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// A plain `helm install` (no admission values, no cert-manager) enforces plan limits: the
// manager generated the webhooks' serving certificate into its Secret and put the CA into
// the webhook configuration, the API server reaches the webhook through its Service, and a
// Workflow past its Tenant's plan is denied. The chart's default Plan is there, and the
// Tenant's namespace has its LimitRange and NetworkPolicy. Before, the test had to pass a
// certificate and caBundle of its own for admission to work at all.
func TestAdmissionWebhookAnswers(t *testing.T) { checkAdmission(t, "helm") }

// checkAdmission checks the install's admission end to end (suffix names its objects).
func checkAdmission(t *testing.T, suffix string) {
	t.Helper()
	ctx := context.Background()
	cl := cluster.Env.Client
	secret := &corev1.Secret{}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: installNamespace, Name: "aias-manager-webhook-cert"}, secret); err != nil {
		t.Fatal(err)
	}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	if err := cl.Get(ctx, client.ObjectKey{Name: "aias-validating-webhook"}, vwc); err != nil {
		t.Fatal(err)
	}
	for _, w := range vwc.Webhooks {
		if len(w.ClientConfig.CABundle) == 0 || !bytes.Equal(w.ClientConfig.CABundle, secret.Data["ca.crt"]) {
			t.Errorf("webhook %s caBundle is not the CA the manager wrote into its Secret", w.Name)
		}
	}
	if err := cl.Get(ctx, client.ObjectKey{Name: "free"}, &aiasv1alpha1.Plan{}); err != nil {
		t.Errorf("the default Plan free: %v", err)
	}

	plan := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: "realnode-none-" + suffix},
		Spec: aiasv1alpha1.PlanSpec{Limits: aiasv1alpha1.PlanLimits{Workflows: ptr.To[int32](0)}}}
	tenant := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "realnode-adm-" + suffix}, Spec: aiasv1alpha1.TenantSpec{Plan: plan.Name}}
	for _, o := range []client.Object{plan, tenant} {
		if err := Settling(func() error { return cl.Create(ctx, o) }); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = cl.Delete(ctx, tenant); _ = cl.Delete(ctx, plan) })
	// Ready on its plan: the manager's cache, which admission reads, has both.
	deadline := time.Now().Add(time.Minute)
	for {
		_ = cl.Get(ctx, client.ObjectKeyFromObject(tenant), tenant)
		if c := meta.FindStatusCondition(tenant.Status.Conditions, aiasv1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue && tenant.Status.EffectivePlan == plan.Name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Tenant %s not Ready on plan %s: %+v", tenant.Name, plan.Name, tenant.Status)
		}
		time.Sleep(250 * time.Millisecond)
	}
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: tenant.Name, Name: "one-too-many"},
		Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{Name: "a", Image: BusyboxImage, Command: []string{"true"}}}}}
	// The webhook answering is what is checked, not how fast a fresh install's Service
	// reaches it: a call the API server could not make is tried again.
	err := cl.Create(ctx, wf)
	for deadline := time.Now().Add(time.Minute); WebhookUnreachable(err) && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		err = cl.Create(ctx, wf)
	}
	if err == nil {
		t.Fatal("a Workflow past its plan's count was admitted")
	}
	if !strings.Contains(err.Error(), `plan "`+plan.Name+`" allows 0 Workflows`) {
		t.Fatalf("Workflow create refused with %v, want the admission webhook's denial", err)
	}

	if err := cl.Get(ctx, client.ObjectKey{Namespace: tenant.Name, Name: "aias-defaults"}, &corev1.LimitRange{}); err != nil {
		t.Errorf("tenant namespace LimitRange: %v", err)
	}
	if err := cl.Get(ctx, client.ObjectKey{Namespace: tenant.Name, Name: "aias-tenant-isolation"}, &networkingv1.NetworkPolicy{}); err != nil {
		t.Errorf("tenant namespace NetworkPolicy: %v", err)
	}
}
