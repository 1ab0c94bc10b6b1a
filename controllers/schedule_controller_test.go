package controllers

import (
	"context"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// fakeClock is a settable clock shared by the reconcilers of one test (a "restart" is a
// new reconciler with the same clock).
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }
func newScheduleReconciler(c *fakeClock) *ScheduleReconciler {
	return &ScheduleReconciler{Client: testEnv.Client, Recorder: events.NewFakeRecorder(100), Now: c.Now}
}

type scheduleHarness struct {
	t   *testing.T
	ctx context.Context
	ns  string
}

func newScheduleHarness(t *testing.T) *scheduleHarness {
	h := &scheduleHarness{t: t, ctx: context.Background()}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "sched-test-"}}
	if err := testEnv.Client.Create(h.ctx, ns); err != nil {
		t.Fatal(err)
	}
	h.ns = ns.Name
	return h
}

func (h *scheduleHarness) create(name string, spec aiasv1alpha1.ScheduleSpec) *aiasv1alpha1.Schedule {
	h.t.Helper()
	sc := &aiasv1alpha1.Schedule{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}, Spec: spec}
	if err := testEnv.Client.Create(h.ctx, sc); err != nil {
		h.t.Fatal(err)
	}
	return sc
}

func (h *scheduleHarness) reconcile(r *ScheduleReconciler, name string) *aiasv1alpha1.Schedule {
	h.t.Helper()
	res, err := r.Reconcile(h.ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: name}})
	if err != nil {
		h.t.Fatal(err)
	}
	if res.RequeueAfter < 0 {
		h.t.Errorf("requeue after %s", res.RequeueAfter)
	}
	sc := &aiasv1alpha1.Schedule{}
	if err := testEnv.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, sc); err != nil {
		h.t.Fatal(err)
	}
	return sc
}

// runs lists the Schedule's Runs by name.
func (h *scheduleHarness) runs(schedule string) []string {
	h.t.Helper()
	var list aiasv1alpha1.RunList
	if err := testEnv.Client.List(h.ctx, &list, client.InNamespace(h.ns), client.MatchingLabels{aiasv1alpha1.LabelSchedule: schedule}); err != nil {
		h.t.Fatal(err)
	}
	var names []string
	for _, r := range list.Items {
		names = append(names, r.Name)
	}
	sort.Strings(names)
	return names
}

// One Run per tick, with a fake clock: reconciling a tick again, or from a restarted
// reconciler, starts nothing more; after downtime over three ticks exactly one catch-up
// Run starts (the latest tick's); a tick missed by more than startingDeadline starts
// nothing; the Runs carry the params, the trigger and an owner reference.
func TestScheduleOneRunPerTick(t *testing.T) {
	h := newScheduleHarness(t)
	sc := h.create("nightly", aiasv1alpha1.ScheduleSpec{
		WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "build"}, Cron: "@hourly",
		Params: map[string]string{"branch": "main"}, StartingDeadline: &metav1.Duration{Duration: 10 * time.Minute},
	})
	sched, _ := cron.ParseStandard("@hourly")
	tick1 := sched.Next(sc.CreationTimestamp.Time)
	clock := &fakeClock{}
	r := newScheduleReconciler(clock)

	clock.Set(tick1.Add(-time.Second))
	if got := h.reconcile(r, "nightly"); len(h.runs("nightly")) != 0 || !got.Status.NextScheduleTime.Time.Equal(tick1) {
		t.Fatalf("before the first tick: runs %v, next %v", h.runs("nightly"), got.Status.NextScheduleTime)
	}
	clock.Set(tick1.Add(5 * time.Second))
	got := h.reconcile(r, "nightly")
	h.reconcile(r, "nightly")
	h.reconcile(newScheduleReconciler(clock), "nightly") // a restarted manager
	runs := h.runs("nightly")
	if len(runs) != 1 || got.Status.LastRun != runs[0] || !got.Status.LastScheduleTime.Time.Equal(tick1) {
		t.Fatalf("after the first tick: runs %v, status %+v", runs, got.Status)
	}
	run := &aiasv1alpha1.Run{}
	if err := testEnv.Client.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: runs[0]}, run); err != nil {
		t.Fatal(err)
	}
	if run.Spec.Params["branch"] != "main" || run.Spec.Trigger.Type != aiasv1alpha1.TriggerSchedule || run.Spec.Trigger.Schedule != "nightly" ||
		metav1.GetControllerOf(run) == nil || metav1.GetControllerOf(run).Name != "nightly" {
		t.Errorf("run %+v", run)
	}

	// Down from just after tick 1 until 3 ticks later (within the deadline of the last).
	tick4 := tick1.Add(3 * time.Hour)
	clock.Set(tick4.Add(2 * time.Minute))
	h.reconcile(newScheduleReconciler(clock), "nightly")
	h.reconcile(newScheduleReconciler(clock), "nightly")
	if runs := h.runs("nightly"); len(runs) != 2 || !strings.HasSuffix(runs[1], "-"+strconv.FormatInt(tick4.Unix(), 10)) {
		t.Fatalf("after downtime: runs %v, want one catch-up for %s", runs, tick4)
	}

	// Down past the deadline: nothing starts, and the condition says why.
	tick6 := tick4.Add(2 * time.Hour)
	clock.Set(tick6.Add(30 * time.Minute))
	got = h.reconcile(r, "nightly")
	if runs := h.runs("nightly"); len(runs) != 2 {
		t.Errorf("a tick past its deadline started a run: %v", runs)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, aiasv1alpha1.ConditionReady); c == nil || c.Reason != aiasv1alpha1.ReasonMissedDeadline {
		t.Errorf("ready = %+v", c)
	}
	// The next tick runs again.
	clock.Set(tick6.Add(time.Hour + time.Second))
	h.reconcile(r, "nightly")
	if runs := h.runs("nightly"); len(runs) != 3 {
		t.Errorf("runs %v after the next tick", runs)
	}
}

// A bad cron expression or time zone makes the Schedule not Ready, naming the field;
// suspend starts nothing; a time zone moves the ticks.
func TestScheduleValidationSuspendAndTimeZone(t *testing.T) {
	h := newScheduleHarness(t)
	clock := &fakeClock{}
	clock.Set(time.Now())
	r := newScheduleReconciler(clock)
	h.create("bad-cron", aiasv1alpha1.ScheduleSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "w"}, Cron: "61 * * * *"})
	if c := meta.FindStatusCondition(h.reconcile(r, "bad-cron").Status.Conditions, aiasv1alpha1.ConditionReady); c == nil || c.Status != metav1.ConditionFalse ||
		c.Reason != aiasv1alpha1.ReasonInvalidSchedule || !strings.HasPrefix(c.Message, "spec.cron: ") {
		t.Errorf("bad cron: %+v", c)
	}
	h.create("bad-tz", aiasv1alpha1.ScheduleSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "w"}, Cron: "@daily", TimeZone: "Mars/Olympus"})
	if c := meta.FindStatusCondition(h.reconcile(r, "bad-tz").Status.Conditions, aiasv1alpha1.ConditionReady); c == nil || c.Reason != aiasv1alpha1.ReasonInvalidTimeZone {
		t.Errorf("bad time zone: %+v", c)
	}
	sc := h.create("tokyo", aiasv1alpha1.ScheduleSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "w"}, Cron: "0 9 * * *", TimeZone: "Asia/Tokyo", Suspend: true})
	clock.Set(sc.CreationTimestamp.Add(48 * time.Hour))
	got := h.reconcile(r, "tokyo")
	if n := got.Status.NextScheduleTime.UTC(); n.Hour() != 0 || n.Minute() != 0 {
		t.Errorf("09:00 in Tokyo is next at %s UTC, want 00:00", n)
	}
	if runs := h.runs("tokyo"); len(runs) != 0 {
		t.Errorf("a suspended schedule started %v", runs)
	}
}
