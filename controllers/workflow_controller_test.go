package controllers

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

const (
	wfTimeout = 20 * time.Second
	wfPoll    = 100 * time.Millisecond
)

// wfHarness is one test's namespace and manager running the Workflow controller.
type wfHarness struct {
	t   *testing.T
	ctx context.Context
	ns  string
	mgr manager.Manager
	r   *WorkflowReconciler
	c   client.Client // uncached, straight to the API server
}

// startWorkflowController creates a namespace and starts a manager, restricted to it,
// with the indexes and the Workflow controller; configure adjusts the reconciler.
// Everything stops when the test ends.
func startWorkflowController(t *testing.T, configure func(*WorkflowReconciler)) *wfHarness {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h := &wfHarness{t: t, ctx: ctx, c: testEnv.Client}

	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "wf-test-"}}
	if err := h.c.Create(ctx, ns); err != nil {
		t.Fatalf("creating namespace: %v", err)
	}
	h.ns = ns.Name

	h.r = &WorkflowReconciler{NotReadyRequeue: 500 * time.Millisecond, SummaryInterval: -1}
	if configure != nil {
		configure(h.r)
	}
	h.mgr, _ = startTestManager(t, func(o *ctrl.Options) {
		o.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{h.ns: {}}}
	}, func(ctx context.Context, mgr manager.Manager) error {
		if err := SetupIndexes(ctx, mgr); err != nil {
			return err
		}
		return h.r.SetupWithManager(mgr)
	})
	t.Cleanup(func() { cancel(); _ = h.c.Delete(context.Background(), ns) }) // the delete never finishes under envtest; harmless
	return h
}

// wfEventually polls cond until it holds, failing the test with cond's last detail on timeout.
func wfEventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(wfTimeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", wfTimeout, what, detail)
		}
		time.Sleep(wfPoll)
	}
}

// wfConsistently checks that cond holds throughout d.
func wfConsistently(t *testing.T, what string, d time.Duration, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if ok, detail := cond(); !ok {
			t.Fatalf("%s stopped holding: %s", what, detail)
		}
		time.Sleep(wfPoll)
	}
}

func testStep(name string) aiasv1alpha1.WorkflowStep {
	return aiasv1alpha1.WorkflowStep{Name: name, Image: "busybox", Command: []string{"echo", name}}
}

func (h *wfHarness) createWorkflow(name string, spec aiasv1alpha1.WorkflowSpec) {
	h.t.Helper()
	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name}, Spec: spec}
	if err := h.c.Create(h.ctx, wf); err != nil {
		h.t.Fatalf("creating Workflow %s: %v", name, err)
	}
}

func (h *wfHarness) getWorkflow(name string) *aiasv1alpha1.Workflow {
	h.t.Helper()
	wf := &aiasv1alpha1.Workflow{}
	if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, wf); err != nil {
		h.t.Fatalf("getting Workflow %s: %v", name, err)
	}
	return wf
}

// waitWorkflow polls the Workflow until cond holds and returns it.
func (h *wfHarness) waitWorkflow(name, what string, cond func(*aiasv1alpha1.Workflow) (bool, string)) *aiasv1alpha1.Workflow {
	h.t.Helper()
	var wf *aiasv1alpha1.Workflow
	wfEventually(h.t, fmt.Sprintf("Workflow %s: %s", name, what), func() (bool, string) {
		wf = h.getWorkflow(name)
		return cond(wf)
	})
	return wf
}

// waitReady waits for the Ready condition with the given status and reason, for the
// current generation, and returns it.
func (h *wfHarness) waitReady(name string, status metav1.ConditionStatus, reason string) *metav1.Condition {
	h.t.Helper()
	var cond *metav1.Condition
	h.waitWorkflow(name, fmt.Sprintf("Ready=%s (%s)", status, reason), func(wf *aiasv1alpha1.Workflow) (bool, string) {
		cond = meta.FindStatusCondition(wf.Status.Conditions, aiasv1alpha1.ConditionReady)
		if cond == nil {
			return false, "no Ready condition"
		}
		ok := cond.Status == status && cond.Reason == reason && cond.ObservedGeneration == wf.Generation
		return ok, fmt.Sprintf("%+v (generation %d)", *cond, wf.Generation)
	})
	return cond
}

func (h *wfHarness) createRun(name, workflow string) *aiasv1alpha1.Run {
	h.t.Helper()
	run := &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: name},
		Spec:       aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: workflow}},
	}
	if err := h.c.Create(h.ctx, run); err != nil {
		h.t.Fatalf("creating Run %s: %v", name, err)
	}
	return run
}

// setRunStatus plays the Run controller: it writes the Run's status directly.
func (h *wfHarness) setRunStatus(name string, mutate func(*aiasv1alpha1.RunStatus)) {
	h.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		run := &aiasv1alpha1.Run{}
		if err := h.c.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: name}, run); err != nil {
			return err
		}
		mutate(&run.Status)
		return h.c.Status().Update(h.ctx, run)
	})
	if err != nil {
		h.t.Fatalf("setting status of Run %s: %v", name, err)
	}
}

// finishRun gives a Run a final phase that completed at the given time.
func (h *wfHarness) finishRun(name string, phase aiasv1alpha1.RunPhase, completed time.Time) {
	h.t.Helper()
	h.setRunStatus(name, func(s *aiasv1alpha1.RunStatus) {
		s.Phase = phase
		s.StartTime = ptr.To(metav1.NewTime(completed.Add(-time.Minute)))
		s.CompletionTime = ptr.To(metav1.NewTime(completed))
	})
}

// reconcile runs one reconcile of the Workflow directly, next to the running controller.
// A reconcile whose status write lost a race with the controller's is redone.
func (h *wfHarness) reconcile(name string) ctrl.Result {
	h.t.Helper()
	for range 10 {
		res, err := h.r.Reconcile(h.ctx, ctrl.Request{NamespacedName: types.NamespacedName{Namespace: h.ns, Name: name}})
		if err != nil {
			h.t.Fatalf("reconciling Workflow %s: %v", name, err)
		}
		if res.RequeueAfter != conflictRequeue {
			return res
		}
		time.Sleep(conflictRequeue)
	}
	h.t.Fatalf("reconciling Workflow %s: conflicts on every attempt", name)
	return ctrl.Result{}
}

// runNames lists the Runs in the namespace, from the API server.
func (h *wfHarness) runNames() []string {
	h.t.Helper()
	var runs aiasv1alpha1.RunList
	if err := h.c.List(h.ctx, &runs, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("listing Runs: %v", err)
	}
	var names []string
	for _, r := range runs.Items {
		names = append(names, r.Name)
	}
	return names
}

// events lists the core/v1 Events about the named Workflow with the given reason.
func (h *wfHarness) events(workflow, reason string) []corev1.Event {
	h.t.Helper()
	var list corev1.EventList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns)); err != nil {
		h.t.Fatalf("listing Events: %v", err)
	}
	var out []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind == "Workflow" && e.InvolvedObject.Name == workflow && e.Reason == reason {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for an Event about the Workflow with the given type and reason whose
// message contains every string in parts, and returns it.
func (h *wfHarness) waitEvent(workflow, eventType, reason string, parts ...string) corev1.Event {
	h.t.Helper()
	var found corev1.Event
	wfEventually(h.t, fmt.Sprintf("%s event %s about Workflow %s mentioning %q", eventType, reason, workflow, parts), func() (bool, string) {
		evs := h.events(workflow, reason)
		for _, e := range evs {
			if e.Type == eventType && containsAll(e.Message, parts...) {
				found = e
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d events with that reason: %v", len(evs), eventMessages(evs))
	})
	return found
}

// eventCount is the number of occurrences recorded for an event (events.k8s.io series
// fold repeats into one object).
func eventCount(e corev1.Event) int32 {
	if e.Series != nil {
		return e.Series.Count
	}
	return max(e.Count, 1)
}

func eventMessages(evs []corev1.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+": "+e.Message)
	}
	return out
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

func TestWorkflowStepCountAndReady(t *testing.T) {
	h := startWorkflowController(t, nil)
	h.createWorkflow("hello", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{testStep("a"), testStep("b"), testStep("c")}})

	cond := h.waitReady("hello", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
	wf := h.getWorkflow("hello")
	if wf.Status.StepCount != 3 || wf.Status.ObservedGeneration != wf.Generation {
		t.Fatalf("status = %+v, want stepCount 3 and observedGeneration %d", wf.Status, wf.Generation)
	}
	if wf.Status.LastRun != nil || wf.Status.ActiveRuns != 0 || wf.Status.QueuedRuns != 0 {
		t.Fatalf("run summary of a Workflow without Runs = %+v", wf.Status)
	}

	// A spec change is observed.
	wf.Spec.Steps = wf.Spec.Steps[:2]
	if err := h.c.Update(h.ctx, wf); err != nil {
		t.Fatal(err)
	}
	h.waitWorkflow("hello", "stepCount 2 at the new generation", func(wf *aiasv1alpha1.Workflow) (bool, string) {
		c := meta.FindStatusCondition(wf.Status.Conditions, aiasv1alpha1.ConditionReady)
		ok := wf.Status.StepCount == 2 && wf.Status.ObservedGeneration == wf.Generation && c != nil && c.ObservedGeneration == wf.Generation
		return ok, fmt.Sprintf("%+v", wf.Status)
	})
	if after := meta.FindStatusCondition(h.getWorkflow("hello").Status.Conditions, aiasv1alpha1.ConditionReady); !after.LastTransitionTime.Equal(&cond.LastTransitionTime) {
		t.Errorf("Ready stayed True but lastTransitionTime moved from %v to %v", cond.LastTransitionTime, after.LastTransitionTime)
	}

	// Idempotent: reconciling an up-to-date Workflow writes nothing.
	rv := h.getWorkflow("hello").ResourceVersion
	for range 3 {
		h.reconcile("hello")
	}
	if got := h.getWorkflow("hello").ResourceVersion; got != rv {
		t.Fatalf("a reconcile with nothing changed wrote the Workflow: resourceVersion %s -> %s", rv, got)
	}
	// A first Ready=True is no news.
	if evs := h.events("hello", aiasv1alpha1.ReasonReady); len(evs) != 0 {
		t.Errorf("events for a Workflow that was always ready: %v", eventMessages(evs))
	}
}

func TestWorkflowServiceAccountNotFound(t *testing.T) {
	h := startWorkflowController(t, nil)
	h.createWorkflow("deploy", aiasv1alpha1.WorkflowSpec{
		Steps:              []aiasv1alpha1.WorkflowStep{testStep("apply")},
		ServiceAccountName: "deployer",
	})

	cond := h.waitReady("deploy", metav1.ConditionFalse, aiasv1alpha1.ReasonServiceAccountNotFound)
	if !strings.Contains(cond.Message, `"deployer"`) {
		t.Fatalf("Ready message %q does not name the ServiceAccount", cond.Message)
	}
	h.waitEvent("deploy", corev1.EventTypeWarning, aiasv1alpha1.ReasonServiceAccountNotFound, `"deployer"`)

	// Requeued every 500ms while not Ready, the Workflow is not written again and
	// the Warning is not repeated.
	rv := h.getWorkflow("deploy").ResourceVersion
	wfConsistently(t, "an unchanged not-Ready Workflow", 2*time.Second, func() (bool, string) {
		wf := h.getWorkflow("deploy")
		evs := h.events("deploy", aiasv1alpha1.ReasonServiceAccountNotFound)
		ok := wf.ResourceVersion == rv && len(evs) == 1 && eventCount(evs[0]) == 1
		return ok, fmt.Sprintf("resourceVersion %s (was %s), events %v", wf.ResourceVersion, rv, eventMessages(evs))
	})

	// Creating the ServiceAccount, shared with workflows, makes the Workflow Ready at the
	// next requeue.
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "deployer", Labels: sharedLabels}}
	if err := h.c.Create(h.ctx, sa); err != nil {
		t.Fatal(err)
	}
	h.waitReady("deploy", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
	h.waitEvent("deploy", corev1.EventTypeNormal, aiasv1alpha1.ReasonReady)
}

func TestWorkflowEnvReferences(t *testing.T) {
	h := startWorkflowController(t, nil)
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "creds", Labels: sharedLabels},
		Data:       map[string][]byte{"user": []byte("bob")},
	}
	if err := h.c.Create(h.ctx, secret); err != nil {
		t.Fatal(err)
	}
	secretEnv := func(name, secret, key string, optional bool) corev1.EnvVar {
		ref := &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: secret}, Key: key}
		if optional {
			ref.Optional = ptr.To(true)
		}
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{SecretKeyRef: ref}}
	}
	configMapEnv := func(name, cm, key string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: cm}, Key: key}}}
	}

	// A missing key in an existing Secret.
	build := testStep("build")
	build.Env = []corev1.EnvVar{
		{Name: "PLAIN", Value: "x"},
		secretEnv("DB_USER", "creds", "user", false),
		secretEnv("DB_TOKEN", "creds", "token", false),
		secretEnv("EXTRA", "nowhere", "any", true), // optional: not checked
	}
	h.createWorkflow("secret-key", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{testStep("checkout"), build}})

	// A missing ConfigMap.
	notify := testStep("notify")
	notify.Env = []corev1.EnvVar{configMapEnv("CHANNEL", "settings", "channel")}
	h.createWorkflow("configmap", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{notify}})

	cond := h.waitReady("secret-key", metav1.ConditionFalse, aiasv1alpha1.ReasonSecretNotFound)
	for _, want := range []string{`step "build"`, `"DB_TOKEN"`, `Secret "creds"`, `key "token"`} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("Ready message %q does not contain %s", cond.Message, want)
		}
	}
	if strings.Contains(cond.Message, "DB_USER") || strings.Contains(cond.Message, "EXTRA") {
		t.Errorf("Ready message %q names a reference that resolves or is optional", cond.Message)
	}
	h.waitEvent("secret-key", corev1.EventTypeWarning, aiasv1alpha1.ReasonSecretNotFound, `"DB_TOKEN"`, `key "token"`)

	cond = h.waitReady("configmap", metav1.ConditionFalse, aiasv1alpha1.ReasonConfigMapNotFound)
	for _, want := range []string{`step "notify"`, `"CHANNEL"`, `ConfigMap "settings"`} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("Ready message %q does not contain %s", cond.Message, want)
		}
	}

	// Adding the key and the ConfigMap makes both Ready.
	secret.Data["token"] = []byte("t0k3n")
	if err := h.c.Update(h.ctx, secret); err != nil {
		t.Fatal(err)
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "settings"}, Data: map[string]string{"channel": "#ops"}}
	if err := h.c.Create(h.ctx, cm); err != nil {
		t.Fatal(err)
	}
	h.waitReady("secret-key", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
	h.waitReady("configmap", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
	h.waitEvent("secret-key", corev1.EventTypeNormal, aiasv1alpha1.ReasonReady)
}

// sharedLabels share a Secret or ServiceAccount with the namespace's Workflows.
var sharedLabels = map[string]string{aiasv1alpha1.LabelWorkflowAccess: aiasv1alpha1.WorkflowAccessAllowed}

// A Secret or ServiceAccount that exists but was not shared with Workflows makes the
// Workflow not Ready, naming each one and the label that shares it; labelling them
// makes it Ready. (The Run controller refuses such a step's Pod: see
// TestRunUnsharedSecretIsRefused.)
func TestWorkflowUnsharedReferences(t *testing.T) {
	h := startWorkflowController(t, nil)
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "admin-creds"}, Data: map[string][]byte{"password": []byte("hunter2")}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "cluster-admin-ish"}}
	for _, o := range []client.Object{secret, sa} {
		if err := h.c.Create(h.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	step := testStep("leak")
	step.Env = []corev1.EnvVar{{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "admin-creds"}, Key: "password"}}}}
	h.createWorkflow("deputy", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step}, ServiceAccountName: "cluster-admin-ish"})
	cond := h.waitReady("deputy", metav1.ConditionFalse, aiasv1alpha1.ReasonNotShared)
	for _, want := range []string{`ServiceAccount "cluster-admin-ish"`, `Secret "admin-creds"`, `step "leak"`, aiasv1alpha1.LabelWorkflowAccess} {
		if !strings.Contains(cond.Message, want) {
			t.Errorf("Ready message %q does not contain %s", cond.Message, want)
		}
	}
	if strings.Contains(cond.Message, "hunter2") {
		t.Errorf("Ready message %q holds the Secret's value", cond.Message)
	}
	for _, o := range []client.Object{secret, sa} {
		o.SetLabels(sharedLabels)
		if err := h.c.Update(h.ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	h.waitReady("deputy", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
}

func TestWorkflowRunSummary(t *testing.T) {
	h := startWorkflowController(t, nil)
	h.createWorkflow("summary", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{testStep("a")}})
	h.createWorkflow("other", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{testStep("a")}})
	h.waitReady("summary", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)

	type want struct {
		active, queued int32
		last           string
		phase          aiasv1alpha1.RunPhase
		completed      bool
	}
	expect := func(what string, w want) {
		t.Helper()
		h.waitWorkflow("summary", what, func(wf *aiasv1alpha1.Workflow) (bool, string) {
			s := wf.Status
			got := want{active: s.ActiveRuns, queued: s.QueuedRuns}
			if s.LastRun != nil {
				got.last, got.phase, got.completed = s.LastRun.Name, s.LastRun.Phase, s.LastRun.CompletionTime != nil
			}
			return got == w, fmt.Sprintf("got %+v, want %+v", got, w)
		})
	}

	// Names sort in creation order: Runs created within one second tie on
	// creationTimestamp and the name decides.
	h.createRun("run-1", "summary")
	expect("a new Run counts as active", want{active: 1, last: "run-1"})
	h.setRunStatus("run-1", func(s *aiasv1alpha1.RunStatus) {
		s.Phase = aiasv1alpha1.RunRunning
		s.StartTime = ptr.To(metav1.Now())
	})
	expect("run-1 running", want{active: 1, last: "run-1", phase: aiasv1alpha1.RunRunning})

	h.createRun("run-2", "summary")
	h.setRunStatus("run-2", func(s *aiasv1alpha1.RunStatus) { s.Phase = aiasv1alpha1.RunQueued })
	h.createRun("run-3", "summary")
	h.setRunStatus("run-3", func(s *aiasv1alpha1.RunStatus) { s.Phase = aiasv1alpha1.RunPending })
	h.createRun("run-x", "other") // another Workflow's Run counts for that one only
	expect("one running, one queued, one pending", want{active: 2, queued: 1, last: "run-3", phase: aiasv1alpha1.RunPending})

	h.finishRun("run-1", aiasv1alpha1.RunSucceeded, time.Now())
	expect("run-1 succeeded", want{active: 1, queued: 1, last: "run-3", phase: aiasv1alpha1.RunPending})
	h.setRunStatus("run-2", func(s *aiasv1alpha1.RunStatus) { s.Phase = aiasv1alpha1.RunRunning })
	expect("run-2 dequeued", want{active: 2, last: "run-3", phase: aiasv1alpha1.RunPending})
	h.finishRun("run-3", aiasv1alpha1.RunFailed, time.Now())
	expect("run-3 failed", want{active: 1, last: "run-3", phase: aiasv1alpha1.RunFailed, completed: true})

	if err := h.c.Delete(h.ctx, &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "run-3"}}); err != nil {
		t.Fatal(err)
	}
	expect("run-3 deleted", want{active: 1, last: "run-2", phase: aiasv1alpha1.RunRunning})
	if err := h.c.Delete(h.ctx, &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "run-2"}}); err != nil {
		t.Fatal(err)
	}
	expect("run-2 deleted", want{last: "run-1", phase: aiasv1alpha1.RunSucceeded, completed: true})

	other := h.waitWorkflow("other", "one active Run", func(wf *aiasv1alpha1.Workflow) (bool, string) {
		return wf.Status.ActiveRuns == 1, fmt.Sprintf("%+v", wf.Status)
	})
	if other.Status.LastRun == nil || other.Status.LastRun.Name != "run-x" {
		t.Fatalf("other's lastRun = %+v, want run-x", other.Status.LastRun)
	}
}

func TestWorkflowHistoryCountLimits(t *testing.T) {
	h := startWorkflowController(t, nil)
	h.createWorkflow("pruned", aiasv1alpha1.WorkflowSpec{
		Steps:   []aiasv1alpha1.WorkflowStep{testStep("a")},
		History: &aiasv1alpha1.HistoryPolicy{Succeeded: ptr.To[int32](2), Failed: ptr.To[int32](1)},
	})
	h.waitReady("pruned", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)

	now := time.Now()
	// Unfinished Runs, older than everything else: never pruned.
	h.createRun("old-running", "pruned")
	h.setRunStatus("old-running", func(s *aiasv1alpha1.RunStatus) {
		s.Phase = aiasv1alpha1.RunRunning
		s.StartTime = ptr.To(metav1.NewTime(now.Add(-48 * time.Hour)))
	})
	h.createRun("old-queued", "pruned")
	h.setRunStatus("old-queued", func(s *aiasv1alpha1.RunStatus) { s.Phase = aiasv1alpha1.RunQueued })

	// Four succeeded Runs, created newest-finished first so that creation order
	// cannot be mistaken for completion order.
	for i, name := range []string{"ok-4", "ok-3", "ok-2", "ok-1"} {
		h.createRun(name, "pruned")
		h.finishRun(name, aiasv1alpha1.RunSucceeded, now.Add(-time.Duration(i+1)*time.Hour))
	}
	// Failed and Canceled share the failed limit.
	h.createRun("failed-old", "pruned")
	h.finishRun("failed-old", aiasv1alpha1.RunFailed, now.Add(-3*time.Hour))
	h.createRun("canceled-new", "pruned")
	h.finishRun("canceled-new", aiasv1alpha1.RunCanceled, now.Add(-2*time.Hour))

	want := "[canceled-new ok-3 ok-4 old-queued old-running]"
	wfEventually(t, "the two oldest succeeded and the oldest failed Run to be pruned", func() (bool, string) {
		got := fmt.Sprint(h.runNames())
		return got == want, "Runs " + got
	})
	h.waitEvent("pruned", corev1.EventTypeNormal, aiasv1alpha1.ReasonPruned, `"ok-1"`, "history.succeeded")
	h.waitEvent("pruned", corev1.EventTypeNormal, aiasv1alpha1.ReasonPruned, `"ok-2"`, "history.succeeded")
	h.waitEvent("pruned", corev1.EventTypeNormal, aiasv1alpha1.ReasonPruned, `"failed-old"`, "history.failed")
	h.waitWorkflow("pruned", "summary of the kept Runs", func(wf *aiasv1alpha1.Workflow) (bool, string) {
		// The Runs were created within a second or two of each other, so which one is
		// the newest depends on where the seconds turned; it is one that was kept.
		s := wf.Status
		return s.ActiveRuns == 1 && s.QueuedRuns == 1 && s.LastRun != nil && strings.Contains(want, s.LastRun.Name),
			fmt.Sprintf("%+v lastRun %+v", s, s.LastRun)
	})

	// Lowering the limit to zero prunes the rest of the succeeded Runs, and only those.
	wf := h.getWorkflow("pruned")
	wf.Spec.History.Succeeded = ptr.To[int32](0)
	if err := h.c.Update(h.ctx, wf); err != nil {
		t.Fatal(err)
	}
	want = "[canceled-new old-queued old-running]"
	wfEventually(t, "every succeeded Run to be pruned", func() (bool, string) {
		got := fmt.Sprint(h.runNames())
		return got == want, "Runs " + got
	})
	if n := len(h.events("pruned", aiasv1alpha1.ReasonPruned)); n > 5 {
		t.Errorf("%d Pruned events for 5 pruned Runs", n)
	}
}

func TestWorkflowHistoryTTL(t *testing.T) {
	// The clock runs at real speed plus an offset the test moves forward.
	var offset atomic.Int64
	h := startWorkflowController(t, func(r *WorkflowReconciler) {
		r.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
	})
	h.createWorkflow("ttl", aiasv1alpha1.WorkflowSpec{
		Steps:   []aiasv1alpha1.WorkflowStep{testStep("a")},
		History: &aiasv1alpha1.HistoryPolicy{TTL: &metav1.Duration{Duration: time.Hour}},
	})
	h.waitReady("ttl", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)

	now := time.Now()
	h.createRun("running", "ttl") // started long ago, still running: never pruned
	h.setRunStatus("running", func(s *aiasv1alpha1.RunStatus) {
		s.Phase = aiasv1alpha1.RunRunning
		s.StartTime = ptr.To(metav1.NewTime(now.Add(-5 * time.Hour)))
	})
	h.createRun("expired", "ttl")
	h.finishRun("expired", aiasv1alpha1.RunSucceeded, now.Add(-2*time.Hour))
	h.createRun("recent", "ttl")
	h.finishRun("recent", aiasv1alpha1.RunFailed, now.Add(-10*time.Minute))

	wfEventually(t, "the expired Run to be pruned", func() (bool, string) {
		got := fmt.Sprint(h.runNames())
		return got == "[recent running]", "Runs " + got
	})
	h.waitEvent("ttl", corev1.EventTypeNormal, aiasv1alpha1.ReasonPruned, `"expired"`, "history.ttl")

	// The next expiry is 50 minutes away: that is the requeue the reconcile asks for.
	res := h.reconcile("ttl")
	if res.RequeueAfter < 49*time.Minute || res.RequeueAfter > 50*time.Minute {
		t.Errorf("RequeueAfter = %s, want the ~50m until recent's TTL expires", res.RequeueAfter)
	}

	// An hour later recent has expired too. The controller's own requeue is 50 real
	// minutes away, so a new Run triggers the reconcile.
	offset.Store(int64(time.Hour))
	h.createRun("trigger", "ttl")
	wfEventually(t, "recent to be pruned once its TTL passed", func() (bool, string) {
		got := fmt.Sprint(h.runNames())
		return got == "[running trigger]", "Runs " + got
	})
	h.waitEvent("ttl", corev1.EventTypeNormal, aiasv1alpha1.ReasonPruned, `"recent"`, "history.ttl")
}

func TestWorkflowHistoryTTLRequeue(t *testing.T) {
	// Real clock, short TTL: nothing but the requeue at the expiry triggers the prune.
	h := startWorkflowController(t, nil)
	h.createWorkflow("short", aiasv1alpha1.WorkflowSpec{
		Steps:   []aiasv1alpha1.WorkflowStep{testStep("a")},
		History: &aiasv1alpha1.HistoryPolicy{TTL: &metav1.Duration{Duration: 3 * time.Second}},
	})
	h.waitReady("short", metav1.ConditionTrue, aiasv1alpha1.ReasonReady)
	h.createRun("done", "short")
	finished := time.Now()
	h.finishRun("done", aiasv1alpha1.RunSucceeded, finished)
	h.waitWorkflow("short", "lastRun done", func(wf *aiasv1alpha1.Workflow) (bool, string) {
		return wf.Status.LastRun != nil && wf.Status.LastRun.Phase == aiasv1alpha1.RunSucceeded, fmt.Sprintf("%+v", wf.Status.LastRun)
	})
	wfEventually(t, "the Run to be pruned when its TTL expires", func() (bool, string) {
		err := h.c.Get(h.ctx, types.NamespacedName{Namespace: h.ns, Name: "done"}, &aiasv1alpha1.Run{})
		return apierrors.IsNotFound(err), fmt.Sprintf("get: %v", err)
	})
	if elapsed := time.Since(finished); elapsed < 2*time.Second {
		t.Errorf("pruned %s after completion, before the 3s TTL", elapsed)
	}
	h.waitWorkflow("short", "no lastRun", func(wf *aiasv1alpha1.Workflow) (bool, string) {
		return wf.Status.LastRun == nil, fmt.Sprintf("%+v", wf.Status.LastRun)
	})
}

func TestPlanHistory(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	mk := func(name string, phase aiasv1alpha1.RunPhase, completedAgo time.Duration) aiasv1alpha1.Run {
		r := aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name),
			CreationTimestamp: metav1.NewTime(now.Add(-24 * time.Hour))}}
		r.Status.Phase = phase
		if completedAgo > 0 {
			r.Status.CompletionTime = ptr.To(metav1.NewTime(now.Add(-completedAgo)))
		}
		return r
	}
	runs := []aiasv1alpha1.Run{
		mk("s1", aiasv1alpha1.RunSucceeded, 4*time.Hour),
		mk("s2", aiasv1alpha1.RunSucceeded, 3*time.Hour),
		mk("s3", aiasv1alpha1.RunSucceeded, 2*time.Hour),
		mk("f1", aiasv1alpha1.RunRejected, 0), // no completion time: creation time counts
		mk("f2", aiasv1alpha1.RunFailed, 30*time.Minute),
		mk("p", aiasv1alpha1.RunPending, 0),
		mk("q", aiasv1alpha1.RunQueued, 0),
		mk("r", aiasv1alpha1.RunRunning, 0),
	}
	names := func(p historyPlan) string {
		var out []string
		for _, c := range p.prune {
			out = append(out, c.run.Name)
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct {
		name    string
		h       *aiasv1alpha1.HistoryPolicy
		prune   string
		requeue time.Duration
	}{
		{"nil keeps everything", nil, "", 0},
		{"empty keeps everything", &aiasv1alpha1.HistoryPolicy{}, "", 0},
		{"succeeded 1", &aiasv1alpha1.HistoryPolicy{Succeeded: ptr.To[int32](1)}, "s1 s2", 0},
		{"failed 0", &aiasv1alpha1.HistoryPolicy{Failed: ptr.To[int32](0)}, "f1 f2", 0},
		{"ttl 150m", &aiasv1alpha1.HistoryPolicy{TTL: &metav1.Duration{Duration: 150 * time.Minute}}, "f1 s1 s2", 30 * time.Minute},
		{"ttl and count", &aiasv1alpha1.HistoryPolicy{Succeeded: ptr.To[int32](2), TTL: &metav1.Duration{Duration: 210 * time.Minute}}, "f1 s1", 30 * time.Minute},
		// s2 goes by count: only the kept s3 and f2 have expiries to wait for.
		{"ttl and count 1", &aiasv1alpha1.HistoryPolicy{Succeeded: ptr.To[int32](1), TTL: &metav1.Duration{Duration: 210 * time.Minute}}, "f1 s1 s2", 90 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := planHistory(tc.h, runs, now)
			if got := names(p); got != tc.prune || p.requeue != tc.requeue {
				t.Fatalf("prune %q requeue %s, want %q requeue %s", got, p.requeue, tc.prune, tc.requeue)
			}
		})
	}
}

func TestReadyTransition(t *testing.T) {
	f := func(reason, msg string) *metav1.Condition {
		return &metav1.Condition{Status: metav1.ConditionFalse, Reason: reason, Message: msg}
	}
	tr := &metav1.Condition{Status: metav1.ConditionTrue, Reason: aiasv1alpha1.ReasonReady, Message: "ok"}
	for _, tc := range []struct {
		name     string
		old, cur *metav1.Condition
		want     string
	}{
		{"first True", nil, tr, ""},
		{"still True", tr, tr, ""},
		{"first False", nil, f(aiasv1alpha1.ReasonSecretNotFound, "a"), "Warning"},
		{"goes False", tr, f(aiasv1alpha1.ReasonSecretNotFound, "a"), "Warning"},
		{"still False", f(aiasv1alpha1.ReasonSecretNotFound, "a"), f(aiasv1alpha1.ReasonSecretNotFound, "a"), ""},
		{"another problem", f(aiasv1alpha1.ReasonSecretNotFound, "a"), f(aiasv1alpha1.ReasonSecretNotFound, "b"), "Warning"},
		{"True again", f(aiasv1alpha1.ReasonSecretNotFound, "a"), tr, "Normal"},
	} {
		got := ""
		if e := readyTransition(tc.old, tc.cur); e != nil {
			got = e.eventType
		}
		if got != tc.want {
			t.Errorf("%s: event %q, want %q", tc.name, got, tc.want)
		}
	}
}
