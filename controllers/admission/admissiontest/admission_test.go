package admissiontest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/controllers/admission"
)

// synced waits until the manager's cache (which the webhooks read) holds obj at its
// current resourceVersion, so a webhook decision never races the informer.
func synced(t *testing.T, obj client.Object) {
	t.Helper()
	got := obj.DeepCopyObject().(client.Object)
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := cached.Get(context.Background(), client.ObjectKeyFromObject(obj), got)
		if err == nil && got.GetResourceVersion() == obj.GetResourceVersion() {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache never saw %T %s at resourceVersion %s (last error %v)", obj, obj.GetName(), obj.GetResourceVersion(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func create(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
	synced(t, obj)
}

func update(t *testing.T, obj client.Object) {
	t.Helper()
	if err := k.Update(context.Background(), obj); err != nil {
		t.Fatalf("updating %T %s: %v", obj, obj.GetName(), err)
	}
	synced(t, obj)
}

// denied asserts err is an admission denial whose message holds every part.
func denied(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("admitted, want a denial mentioning %q", parts)
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("denial %q does not mention %q", err.Error(), p)
		}
	}
}

func plan(t *testing.T, limits aiasv1alpha1.PlanLimits) *aiasv1alpha1.Plan {
	t.Helper()
	p := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: "plan-" + utilrand.String(6)}, Spec: aiasv1alpha1.PlanSpec{Limits: limits}}
	create(t, p)
	return p
}

// tenant creates a Tenant on specPlan and its namespace.
func tenant(t *testing.T, specPlan string) *aiasv1alpha1.Tenant {
	t.Helper()
	tn := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "tn-" + utilrand.String(6)}, Spec: aiasv1alpha1.TenantSpec{Plan: specPlan}}
	if err := k.Create(context.Background(), tn); err != nil {
		t.Fatal(err)
	}
	if specPlan != "" {
		// As the Tenant controller (not running here) would write it.
		tn.Status.EffectivePlan = specPlan
		if err := k.Status().Update(context.Background(), tn); err != nil {
			t.Fatal(err)
		}
	}
	synced(t, tn)
	namespace(t, tn.Name, nil)
	return tn
}

func namespace(t *testing.T, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	create(t, ns)
}

func workflow(ns, name string, steps int, timeout time.Duration) *aiasv1alpha1.Workflow {
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}}
	for i := range steps {
		s := aiasv1alpha1.WorkflowStep{Name: fmt.Sprintf("s%d", i), Image: "busybox", Command: []string{"true"}}
		if timeout > 0 {
			s.Timeout = &metav1.Duration{Duration: timeout}
		}
		wf.Spec.Steps = append(wf.Spec.Steps, s)
	}
	return wf
}

func endpoint(ns, name string) *aiasv1alpha1.WebhookEndpoint {
	return &aiasv1alpha1.WebhookEndpoint{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}},
	}
}

func TestWorkflowCountLimit(t *testing.T) {
	ctx := context.Background()
	p := plan(t, aiasv1alpha1.PlanLimits{Workflows: ptr.To[int32](2)})
	tn := tenant(t, p.Name)

	create(t, workflow(tn.Name, "one", 1, 0))
	two := workflow(tn.Name, "two", 1, 0)
	create(t, two)
	err := k.Create(ctx, workflow(tn.Name, "three", 1, 0))
	denied(t, err, fmt.Sprintf("plan %q", p.Name), "allows 2 Workflows", "already holds 2")
	t.Logf("denial: %v", err)

	// At the limit, existing Workflows can still be updated and deleted.
	two.Spec.Steps[0].Image = "busybox:stable"
	update(t, two)

	// Raising the Plan's limit lifts the denial at once.
	p.Spec.Limits.Workflows = ptr.To[int32](3)
	update(t, p)
	create(t, workflow(tn.Name, "three", 1, 0))
	denied(t, k.Create(ctx, workflow(tn.Name, "four", 1, 0)), "allows 3 Workflows", "already holds 3")

	if err := k.Delete(ctx, two); err != nil {
		t.Fatalf("delete refused: %v", err)
	}
}

func TestWorkflowStepsAndTimeouts(t *testing.T) {
	ctx := context.Background()
	p := plan(t, aiasv1alpha1.PlanLimits{StepsPerWorkflow: ptr.To[int32](2), MaxStepTimeout: &metav1.Duration{Duration: time.Minute}})
	tn := tenant(t, p.Name)

	denied(t, k.Create(ctx, workflow(tn.Name, "many", 3, 0)), fmt.Sprintf("plan %q", p.Name), "allows 2 steps", "has 3")
	denied(t, k.Create(ctx, workflow(tn.Name, "slow", 1, 2*time.Minute)), fmt.Sprintf("plan %q", p.Name), "up to 1m0s", `step "s0" has 2m0s`)

	wf := workflow(tn.Name, "fits", 2, time.Minute)
	create(t, wf)

	// A downgrade never breaks what exists: over the new limits the Workflow can still be
	// edited, but not grown.
	p.Spec.Limits.StepsPerWorkflow = ptr.To[int32](1)
	p.Spec.Limits.MaxStepTimeout = &metav1.Duration{Duration: 30 * time.Second}
	update(t, p)
	wf.Spec.Steps[1].Image = "busybox:stable"
	update(t, wf)

	grown := wf.DeepCopy()
	grown.Spec.Steps = append(grown.Spec.Steps, aiasv1alpha1.WorkflowStep{Name: "s2", Image: "busybox", Command: []string{"true"}})
	denied(t, k.Update(ctx, grown), "allows 1 steps", "has 3")

	slower := wf.DeepCopy()
	slower.Spec.Steps[0].Timeout = &metav1.Duration{Duration: 2 * time.Minute}
	denied(t, k.Update(ctx, slower), "up to 30s", `step "s0" has 2m0s`)

	// Shrinking is always fine.
	wf.Spec.Steps = wf.Spec.Steps[:1]
	wf.Spec.Steps[0].Timeout = &metav1.Duration{Duration: 20 * time.Second}
	update(t, wf)
}

func TestWebhookEndpointCountLimit(t *testing.T) {
	ctx := context.Background()
	p := plan(t, aiasv1alpha1.PlanLimits{WebhookEndpoints: ptr.To[int32](1)})
	tn := tenant(t, p.Name)

	one := endpoint(tn.Name, "one")
	create(t, one)
	denied(t, k.Create(ctx, endpoint(tn.Name, "two")), fmt.Sprintf("plan %q", p.Name), "allows 1 WebhookEndpoints", "already holds 1")

	one.Spec.Suspend = true
	update(t, one)

	p.Spec.Limits.WebhookEndpoints = nil // unlimited
	update(t, p)
	create(t, endpoint(tn.Name, "two"))
}

func TestNoTenant(t *testing.T) {
	ctx := context.Background()
	ns := "free-" + utilrand.String(6)
	namespace(t, ns, nil)

	// The manager runs with the default policy, unlimited.
	for i := range 3 {
		create(t, workflow(ns, fmt.Sprintf("wf%d", i), 5, time.Hour))
	}
	create(t, endpoint(ns, "ep"))

	// Under "deny" (validators called directly: the manager has one policy).
	opts := admission.Options{NoTenantPolicy: admission.NoTenantDeny}
	_, err := admission.NewWorkflowValidator(cached, opts).ValidateCreate(ctx, workflow(ns, "more", 1, 0))
	denied(t, err, fmt.Sprintf("namespace %q belongs to no Tenant", ns))
	_, err = admission.NewWebhookEndpointValidator(cached, opts).ValidateCreate(ctx, endpoint(ns, "more"))
	denied(t, err, fmt.Sprintf("namespace %q belongs to no Tenant", ns))
	// Existing objects stay editable.
	if _, err := admission.NewWorkflowValidator(cached, opts).ValidateUpdate(ctx, workflow(ns, "wf0", 5, time.Hour), workflow(ns, "wf0", 6, time.Hour)); err != nil {
		t.Errorf("update under deny: %v", err)
	}
	// A Tenant's namespace is not affected by the policy.
	p := plan(t, aiasv1alpha1.PlanLimits{})
	tn := tenant(t, p.Name)
	if _, err := admission.NewWorkflowValidator(cached, opts).ValidateCreate(ctx, workflow(tn.Name, "x", 1, 0)); err != nil {
		t.Errorf("create in a Tenant's namespace under deny: %v", err)
	}
}

func TestSwitchingPlanLiftsDenial(t *testing.T) {
	ctx := context.Background()
	small := plan(t, aiasv1alpha1.PlanLimits{Workflows: ptr.To[int32](1)})
	big := plan(t, aiasv1alpha1.PlanLimits{Workflows: ptr.To[int32](10)})
	tn := tenant(t, small.Name)

	create(t, workflow(tn.Name, "one", 1, 0))
	denied(t, k.Create(ctx, workflow(tn.Name, "two", 1, 0)), fmt.Sprintf("plan %q", small.Name), "allows 1 Workflows", "already holds 1")

	// A namespace belongs to the Tenant of its name only: a label naming a Tenant does not
	// put it under that Tenant's plan (the Run quota and the hook listener agree).
	other := "lbl-" + utilrand.String(6)
	namespace(t, other, map[string]string{aiasv1alpha1.LabelTenant: tn.Name})
	create(t, workflow(other, "x", 1, 0))
	create(t, workflow(other, "y", 1, 0))

	tn.Spec.Plan = big.Name
	update(t, tn)
	create(t, workflow(tn.Name, "two", 1, 0))

	// status.effectivePlan is not read: the plan is computed from the Tenant as it is now,
	// so a status the Tenant controller has not rewritten yet changes nothing...
	tn.Status.EffectivePlan = small.Name
	if err := k.Status().Update(ctx, tn); err != nil {
		t.Fatal(err)
	}
	synced(t, tn)
	create(t, workflow(tn.Name, "three", 1, 0))
	// ...and a subscription the billing webhook just wrote selects its plan at once.
	small.Spec.StripePriceIDs = []string{"price_" + small.Name[len("plan-"):]}
	update(t, small)
	tn.Status.Subscription = &aiasv1alpha1.SubscriptionStatus{ID: "sub_1", Status: "active", PriceID: small.Spec.StripePriceIDs[0]}
	if err := k.Status().Update(ctx, tn); err != nil {
		t.Fatal(err)
	}
	synced(t, tn)
	denied(t, k.Create(ctx, workflow(tn.Name, "four", 1, 0)), fmt.Sprintf("plan %q", small.Name), "already holds 3")

	// A missing plan (spec.plan names none, and the cluster default does not exist here)
	// refuses creates.
	tn.Status.Subscription = nil
	if err := k.Status().Update(ctx, tn); err != nil {
		t.Fatal(err)
	}
	tn.Spec.Plan = "no-such-plan-" + utilrand.String(4)
	update(t, tn)
	denied(t, k.Create(ctx, workflow(tn.Name, "four", 1, 0)), "does not exist")
}

// Creates racing through admission are counted against each other, not only against the
// cache: 12 at once against a limit of 3 leave exactly 3.
func TestWorkflowCountLimitUnderConcurrentCreates(t *testing.T) {
	ctx := context.Background()
	p := plan(t, aiasv1alpha1.PlanLimits{Workflows: ptr.To[int32](3)})
	tn := tenant(t, p.Name)
	var wg sync.WaitGroup
	var mu sync.Mutex
	created, refused := 0, 0
	for i := range 12 {
		wg.Go(func() {
			err := k.Create(ctx, workflow(tn.Name, fmt.Sprintf("race-%d", i), 1, 0))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				created++
			case strings.Contains(err.Error(), "allows 3 Workflows"):
				refused++
			default:
				t.Errorf("create %d: %v", i, err)
			}
		})
	}
	wg.Wait()
	var list aiasv1alpha1.WorkflowList
	if err := k.List(ctx, &list, client.InNamespace(tn.Name)); err != nil {
		t.Fatal(err)
	}
	if created != 3 || refused != 9 || len(list.Items) != 3 {
		t.Errorf("%d created, %d refused, %d stored; want 3, 9, 3", created, refused, len(list.Items))
	}
}

// Schedules: the plan's spec.limits.schedules holds creates; a cron expression or time
// zone that cannot work is refused on create and update, naming the field.
func TestScheduleAdmission(t *testing.T) {
	ctx := context.Background()
	p := plan(t, aiasv1alpha1.PlanLimits{Schedules: ptr.To[int32](1)})
	tn := tenant(t, p.Name)
	schedule := func(name, cron, tz string) *aiasv1alpha1.Schedule {
		return &aiasv1alpha1.Schedule{ObjectMeta: metav1.ObjectMeta{Namespace: tn.Name, Name: name},
			Spec: aiasv1alpha1.ScheduleSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "w"}, Cron: cron, TimeZone: tz}}
	}
	denied(t, k.Create(ctx, schedule("bad", "every tuesday", "")), "spec.cron")
	denied(t, k.Create(ctx, schedule("bad", "@daily", "Nowhere/Land")), "spec.timeZone")
	one := schedule("one", "*/5 * * * *", "Europe/Berlin")
	create(t, one)
	denied(t, k.Create(ctx, schedule("two", "@hourly", "")), fmt.Sprintf("plan %q", p.Name), "allows 1 Schedules", "already holds 1")
	one.Spec.Cron = "99 * * * *"
	denied(t, k.Update(ctx, one), "spec.cron")
}
