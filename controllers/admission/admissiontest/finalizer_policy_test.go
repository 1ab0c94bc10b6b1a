package admissiontest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// managerUser is the manager's ServiceAccount as config/default deploys it.
const managerUser = "system:serviceaccount:aias-system:aias-manager"

// The ValidatingAdmissionPolicy of config/default keeps everyone but the manager from
// removing AIAS's finalizers: a tenant's editor (who may update the tenant's Runs) who
// removes aias.dev/run-cleanup is denied with the policy's message, and could otherwise
// orphan the Run's rows in PostgreSQL; the manager's ServiceAccount removes it as before.
// The endpoint and tenant finalizers are held the same way. On main no policy existed and
// the editor's update went through.
func TestOnlyTheManagerRemovesFinalizers(t *testing.T) {
	ctx := context.Background()
	rendered := testenv.Kustomize(t, "default")
	var vap admissionregistrationv1.ValidatingAdmissionPolicy
	var binding admissionregistrationv1.ValidatingAdmissionPolicyBinding
	var editorRole rbacv1.ClusterRole
	rendered.Get(t, "ValidatingAdmissionPolicy", "aias-finalizers", &vap)
	rendered.Get(t, "ValidatingAdmissionPolicyBinding", "aias-finalizers", &binding)
	rendered.Get(t, "ClusterRole", "aias-editor", &editorRole)
	for _, o := range []client.Object{&vap, &binding, &editorRole} {
		if err := k.Create(ctx, o); err != nil {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
	}
	t.Cleanup(func() { _ = k.Delete(ctx, &binding); _ = k.Delete(ctx, &vap); _ = k.Delete(ctx, &editorRole) })

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fin-" + utilrand.String(6)}}
	if err := k.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	editor := "editor-" + utilrand.String(6)
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "editors"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "aias-editor"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: editor}},
	}
	if err := k.Create(ctx, rb); err != nil {
		t.Fatal(err)
	}

	newRun := func(name string) *aiasv1alpha1.Run {
		run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: name, Finalizers: []string{aiasv1alpha1.RunFinalizer}},
			Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "w"}}}
		if err := k.Create(ctx, run); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { removeFinalizers(ctx, t, impersonating(t, managerUser), run) })
		return run
	}
	const message = "only the AIAS manager may remove the finalizer " + aiasv1alpha1.RunFinalizer
	// The apiserver loads a new policy within a second or so: until it does, the removal
	// goes through, and the finalizer is put back for the next try.
	probe := newRun("probe")
	waitFor(t, 30*time.Second, "the policy to deny removing a finalizer", func() bool {
		err := removeFinalizer(ctx, k, probe, aiasv1alpha1.RunFinalizer)
		if err == nil {
			_ = k.Get(ctx, client.ObjectKeyFromObject(probe), probe)
			probe.Finalizers = []string{aiasv1alpha1.RunFinalizer}
			_ = k.Update(ctx, probe)
		}
		return err != nil && strings.Contains(err.Error(), message)
	})

	run := newRun("r1")
	asEditor := impersonating(t, editor)
	err := removeFinalizer(ctx, asEditor, run, aiasv1alpha1.RunFinalizer)
	denied(t, err, message, "Run r1")
	// The editor's other updates of the Run still go through.
	if err := asEditor.Get(ctx, client.ObjectKeyFromObject(run), run); err != nil {
		t.Fatal(err)
	}
	run.Labels = map[string]string{"team": "a"}
	if err := asEditor.Update(ctx, run); err != nil {
		t.Errorf("an editor's label update was refused: %v", err)
	}
	// Adding another finalizer and removing it again is not AIAS's business.
	run.Finalizers = append(run.Finalizers, "example.com/other")
	if err := asEditor.Update(ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := removeFinalizer(ctx, asEditor, run, "example.com/other"); err != nil {
		t.Errorf("removing a finalizer that is not AIAS's was refused: %v", err)
	}
	if err := removeFinalizer(ctx, impersonating(t, managerUser), run, aiasv1alpha1.RunFinalizer); err != nil {
		t.Errorf("the manager's ServiceAccount may not remove the run finalizer: %v", err)
	}

	// A WebhookEndpoint's and a Tenant's finalizers are held alike (here by the admin).
	ep := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Namespace: ns.Name, Name: "hook", Finalizers: []string{aiasv1alpha1.EndpointFinalizer}},
		Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "w"}}}
	tn := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "fin-" + utilrand.String(6), Finalizers: []string{aiasv1alpha1.TenantFinalizer}}}
	for _, c := range []struct {
		obj       client.Object
		finalizer string
	}{{ep, aiasv1alpha1.EndpointFinalizer}, {tn, aiasv1alpha1.TenantFinalizer}} {
		if err := k.Create(ctx, c.obj); err != nil {
			t.Fatal(err)
		}
		denied(t, removeFinalizer(ctx, k, c.obj, c.finalizer), "only the AIAS manager may remove the finalizer "+c.finalizer)
		removeFinalizers(ctx, t, impersonating(t, managerUser), c.obj)
	}
}

// impersonating is a client acting as user (the envtest admin may impersonate anyone).
// The manager's ServiceAccount is given system:masters here in place of its ClusterRole:
// RBAC lets it do anything, and the policy judges it by its username alone.
func impersonating(t *testing.T, user string) client.Client {
	t.Helper()
	cfg := rest.CopyConfig(testEnvConfig)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: user, Groups: []string{"system:authenticated"}}
	if user == managerUser {
		cfg.Impersonate.Groups = append(cfg.Impersonate.Groups, "system:serviceaccounts", "system:serviceaccounts:aias-system", "system:masters")
	}
	httpClient, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mapper, err := apiutil.NewDynamicRESTMapper(cfg, httpClient)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme.Scheme, HTTPClient: httpClient, Mapper: mapper})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// removeFinalizer reads obj through c and updates it without the finalizer.
func removeFinalizer(ctx context.Context, c client.Client, obj client.Object, finalizer string) error {
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil {
		return err
	}
	var keep []string
	for _, f := range obj.GetFinalizers() {
		if f != finalizer {
			keep = append(keep, f)
		}
	}
	if len(keep) == len(obj.GetFinalizers()) {
		return errors.New("no such finalizer")
	}
	obj.SetFinalizers(keep)
	return c.Update(ctx, obj)
}

// removeFinalizers lets the test's objects go (as the manager would).
func removeFinalizers(ctx context.Context, t *testing.T, c client.Client, obj client.Object) {
	if err := c.Get(ctx, client.ObjectKeyFromObject(obj), obj); err != nil || len(obj.GetFinalizers()) == 0 {
		return
	}
	obj.SetFinalizers(nil)
	if err := c.Update(ctx, obj); err != nil {
		t.Logf("removing the finalizers of %s: %v", obj.GetName(), err)
	}
	_ = c.Delete(ctx, obj)
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
