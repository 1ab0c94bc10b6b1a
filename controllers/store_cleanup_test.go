package controllers

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
)

// backdateStored makes an input or frozen spec look stored long ago (the sweep's grace
// is an hour; the test does not wait it out).
func backdateStored(t *testing.T, table, digest string) {
	t.Helper()
	if _, err := testStore.Pool().Exec(context.Background(),
		`update `+table+` set stored_at = now() - interval '2 hours' where digest = $1`, digest); err != nil {
		t.Fatal(err)
	}
}

// The janitor sweeps an input or frozen spec no Run uses once the grace has passed, and
// keeps one an indexed Run uses, one a Run uses that is not indexed yet (it exists only
// in the cache: created while no Run controller ran), and one stored within the grace. A
// Run of another namespace naming the same digest keeps nothing of this namespace's.
// (On main nothing deleted inputs or specs: every one was kept forever.)
func TestStoreJanitorSweepsUnusedInputsAndSpecs(t *testing.T) {
	ctx := context.Background()
	var mgr manager.Manager
	mgr, _ = startTestManager(t, nil, func(ctx context.Context, m manager.Manager) error { return SetupIndexes(ctx, m) })
	h, other := newRunHarnessNoStart(t), newRunHarnessNoStart(t)
	put := func(s string) string {
		d, err := testStore.PutInput(ctx, h.ns, []byte(s), "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	orphan, indexed, pending, young := put("orphan"), put("indexed"), put("pending"), put("young")
	if err := testStore.UpsertRun(ctx, store.RunRecord{UID: testRunUID(), Namespace: h.ns, Name: "indexed", Workflow: "w", Phase: "Running",
		Trigger: "Manual", InputDigest: indexed, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	specOrphan, err := testStore.PutWorkflowSpec(ctx, []byte(`{"steps":[],"orphan":"`+h.ns+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	specPending, err := testStore.PutWorkflowSpec(ctx, []byte(`{"steps":[],"pending":"`+h.ns+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	// Runs that exist but are not indexed: one here referring to `pending` and the spec,
	// one in another namespace referring to this namespace's orphan's digest.
	byRef := func(hh *rtHarness, name, digest string) *aiasv1alpha1.Run {
		run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Namespace: hh.ns, Name: name},
			Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "w"},
				InputRef: &aiasv1alpha1.InputReference{Digest: digest}}}
		if err := hh.c.Create(ctx, run); err != nil {
			t.Fatal(err)
		}
		return run
	}
	run := byRef(h, "pending", pending)
	patch := client.MergeFrom(run.DeepCopy())
	run.Status.SpecDigest = specPending
	if err := h.c.Status().Patch(ctx, run, patch); err != nil {
		t.Fatal(err)
	}
	byRef(other, "elsewhere", orphan)
	h.eventually(10*time.Second, "the manager's cache to hold the Runs", func() (bool, string) {
		var runs aiasv1alpha1.RunList
		err := mgr.GetClient().List(ctx, &runs, client.MatchingFields{IndexRunStoredContent: storedSpecKey(specPending)})
		return err == nil && len(runs.Items) == 1, fmt.Sprint(len(runs.Items), err)
	})
	for _, d := range []string{orphan, indexed, pending} {
		backdateStored(t, "inputs", d)
	}
	backdateStored(t, "workflow_specs", specOrphan)
	backdateStored(t, "workflow_specs", specPending)

	j := &StoreJanitor{Store: testStore, Runs: mgr.GetClient()}
	if _, err := j.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	for d, want := range map[string]bool{orphan: false, indexed: true, pending: true, young: true} {
		if _, _, err := testStore.GetInput(ctx, h.ns, d); (err == nil) != want {
			t.Errorf("input %s present = %v (%v), want %v", d, err == nil, err, want)
		}
	}
	for d, want := range map[string]bool{specOrphan: false, specPending: true} {
		if _, err := testStore.WorkflowSpec(ctx, d); (err == nil) != want {
			t.Errorf("spec %s present = %v (%v), want %v", d, err == nil, err, want)
		}
	}
	// Once the Run is gone, its input and spec go at the next sweep past the grace.
	if err := h.c.Delete(ctx, run); err != nil {
		t.Fatal(err)
	}
	h.eventually(10*time.Second, "the cache to lose the Run", func() (bool, string) {
		var runs aiasv1alpha1.RunList
		err := mgr.GetClient().List(ctx, &runs, client.MatchingFields{IndexRunStoredContent: storedSpecKey(specPending)})
		return err == nil && len(runs.Items) == 0, fmt.Sprint(len(runs.Items), err)
	})
	backdateStored(t, "inputs", pending)
	backdateStored(t, "workflow_specs", specPending)
	if _, err := j.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := testStore.GetInput(ctx, h.ns, pending); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted Run's input: %v", err)
	}
	if _, err := testStore.WorkflowSpec(ctx, specPending); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the deleted Run's spec: %v", err)
	}
}

// Deleting a WebhookEndpoint deletes its delivery log (bodies included) and delivery
// ledger from the store, through its finalizer, with an event; an endpoint created again
// under the same name lists none of the old deliveries. (On main the endpoint went at once
// and every row stayed, listed under the name for its successor.)
func TestWebhookEndpointDeletionDeletesDeliveries(t *testing.T) {
	h := startWebhookEndpointController(t, func(r *WebhookEndpointReconciler) { r.Store = testStore })
	h.createWorkflow("wf")
	h.createEndpoint("hooks", "wf", "", "")
	var ep *aiasv1alpha1.WebhookEndpoint
	wfEventually(t, "the endpoint finalizer", func() (bool, string) {
		ep = h.getEndpoint("hooks")
		return controllerutil.ContainsFinalizer(ep, aiasv1alpha1.EndpointFinalizer), fmt.Sprint(ep.Finalizers)
	})
	until := time.Now().Add(time.Hour)
	for i := range 3 {
		id := fmt.Sprintf("d%d", i)
		if err := testStore.LogDelivery(h.ctx, store.LoggedDelivery{Namespace: h.ns, Endpoint: "hooks", EndpointUID: string(ep.UID), ReceivedAt: time.Now(),
			Verified: true, DeliveryID: id, Outcome: "created", Status: 202, Body: []byte(`{}`), BodyExpiresAt: &until}); err != nil {
			t.Fatal(err)
		}
		if _, err := testStore.RecordDelivery(h.ctx, store.Delivery{EndpointUID: string(ep.UID), DeliveryID: id, Namespace: h.ns, Endpoint: "hooks",
			RunName: "r-" + id, ReceivedAt: time.Now(), Window: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	rows := func(uid string) int {
		var n int
		if err := testStore.Pool().QueryRow(h.ctx, `select (select count(*) from delivery_log where endpoint_uid = $1) +
			(select count(*) from deliveries where endpoint_uid = $1)`, uid).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := rows(string(ep.UID)); n != 6 {
		t.Fatalf("%d rows before the delete, want 6", n)
	}
	if err := h.c.Delete(h.ctx, ep); err != nil {
		t.Fatal(err)
	}
	wfEventually(t, "the endpoint to go", func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKeyFromObject(ep), &aiasv1alpha1.WebhookEndpoint{})
		return isNotFound(err), fmt.Sprint(err)
	})
	if n := rows(string(ep.UID)); n != 0 {
		t.Errorf("%d delivery-log and ledger rows left after the delete", n)
	}
	wfEventually(t, "the event", func() (bool, string) {
		reasons := eventReasonsOf(t, h.ns, ep.Name)
		return strings.Contains(reasons, aiasv1alpha1.ReasonDeliveriesDeleted), reasons
	})

	h.createEndpoint("hooks", "wf", "", "")
	again := h.getEndpoint("hooks")
	if page, err := testStore.ListDeliveryLog(h.ctx, string(again.UID), 10, ""); err != nil || len(page.Deliveries) != 0 {
		t.Errorf("the endpoint created again lists %d deliveries (%v)", len(page.Deliveries), err)
	}
	if err := h.c.Delete(h.ctx, again); err != nil {
		t.Fatal(err)
	}
	wfEventually(t, "the second endpoint to go", func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKeyFromObject(again), &aiasv1alpha1.WebhookEndpoint{})
		return isNotFound(err), fmt.Sprint(err)
	})
}

// eventReasonsOf lists the reasons of the events about the object named name in ns (the
// core API serves the events.k8s.io events the recorders write).
func eventReasonsOf(t *testing.T, ns, name string) string {
	t.Helper()
	var list corev1.EventList
	if err := testEnv.Client.List(context.Background(), &list, client.InNamespace(ns)); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range list.Items {
		if e.InvolvedObject.Name == name {
			reasons = append(reasons, e.Reason)
		}
	}
	return strings.Join(reasons, ",")
}

// Deleting a Tenant deletes its run claims and usage counters through its finalizer, and
// a new Tenant of the same name starts at zero runs this period. (On main both were
// keyed by the Tenant's name: the new Tenant inherited the old one's count.)
func TestTenantDeletionDeletesUsage(t *testing.T) {
	h := startTenantControllers(t, func(r *TenantReconciler) { r.Store = testStore }, func(r *TenantUsageReconciler) { r.Store = testStore; r.Interval = -1 })
	name := tnName("reuse")
	h.createPlan(name + "-plan")
	spec := aiasv1alpha1.TenantSpec{Plan: name + "-plan", DeletionPolicy: aiasv1alpha1.DeletionRetain}
	h.createTenant(name, spec)
	old := h.waitTenant(name, "the finalizer and usage", func(tn *aiasv1alpha1.Tenant) (bool, string) {
		return controllerutil.ContainsFinalizer(tn, aiasv1alpha1.TenantFinalizer) && tn.Status.Usage != nil && tn.Status.Usage.PeriodStart != nil,
			fmt.Sprintf("finalizers %v usage %+v", tn.Finalizers, tn.Status.Usage)
	})
	period := old.Status.Usage.PeriodStart.Time
	for range 2 {
		if _, _, err := testStore.ClaimRun(h.ctx, store.RunClaim{RunUID: testRunUID(), TenantUID: string(old.UID), PeriodStart: period, Limit: -1}); err != nil {
			t.Fatal(err)
		}
	}
	h.updateTenant(name, func(tn *aiasv1alpha1.Tenant) { tn.Spec.DisplayName = "counted" })
	h.waitTenant(name, "two runs", func(tn *aiasv1alpha1.Tenant) (bool, string) {
		return tn.Status.Usage != nil && tn.Status.Usage.RunsThisPeriod == 2, fmt.Sprintf("%+v", tn.Status.Usage)
	})

	if err := h.c.Delete(h.ctx, old); err != nil {
		t.Fatal(err)
	}
	wfEventually(t, "the Tenant to go", func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKey{Name: name}, &aiasv1alpha1.Tenant{})
		return isNotFound(err), fmt.Sprint(err)
	})
	var left int
	if err := testStore.Pool().QueryRow(h.ctx, `select (select count(*) from run_claims where tenant_uid = $1) +
		(select count(*) from tenant_usage where tenant_uid = $1)`, string(old.UID)).Scan(&left); err != nil || left != 0 {
		t.Errorf("%d claim and usage rows left (%v)", left, err)
	}

	h.createTenant(name, spec)
	fresh := h.waitTenant(name, "a fresh count", func(tn *aiasv1alpha1.Tenant) (bool, string) {
		u := tn.Status.Usage
		return tn.UID != old.UID && u != nil && u.PeriodStart != nil && u.RunsThisPeriod == 0, fmt.Sprintf("%+v", u)
	})
	if err := h.c.Delete(h.ctx, fresh); err != nil {
		t.Fatal(err)
	}
	wfEventually(t, "the second Tenant to go", func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKey{Name: name}, &aiasv1alpha1.Tenant{})
		return isNotFound(err), fmt.Sprint(err)
	})
}
