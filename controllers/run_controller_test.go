package controllers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/metrics"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/runengine"
	"github.com/aias-dev/aias/internal/stepjob"
)

func step(name string, deps ...string) aiasv1alpha1.WorkflowStep {
	s := aiasv1alpha1.WorkflowStep{Name: name, Image: "busybox:1.37", Command: []string{"sh", "-c", "echo " + name}}
	if deps != nil {
		s.DependsOn = deps
	}
	return s
}

// shStep is step running script with sh -c (its arguments are $1…).
func shStep(name, script string, deps ...string) aiasv1alpha1.WorkflowStep {
	s := step(name, deps...)
	s.Command = []string{"sh", "-c", script, "sh"}
	return s
}

// A diamond: a → (b, c) → d. b and c run at once; d waits for both; the Run succeeds
// with its artifacts listed and the store's run index in step.
func TestRunSchedulesDAG(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("diamond", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{
		step("a"), step("b", "a"), step("c", "a"), step("d", "b", "c"),
	}})
	h.run("r1", "diamond", `{"ref":"main"}`)

	jobs := h.waitJobs("r1", "r1-a-1")
	job := jobs["r1-a-1"]
	// The Job is created before the status that records it is written.
	run := h.waitPhase("r1", aiasv1alpha1.RunRunning)
	if run.Status.Phase != aiasv1alpha1.RunRunning || !strings.HasPrefix(run.Status.SpecDigest, "sha256:") || run.Status.InputDigest == "" {
		t.Fatalf("status = %+v", run.Status)
	}
	checkStepJob(t, run, job)
	secret := &corev1.Secret{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "r1-step-token"}, secret); err != nil {
		t.Fatalf("token secret: %v", err)
	}
	if got, err := h.tokens.Verify(string(secret.Data[stepjob.TokenKey])); err != nil || got.Name != "r1" || got.UID != string(run.UID) {
		t.Errorf("token secret holds %+v, %v", got, err)
	}

	h.finishJob("r1", "r1-a-1", 0, `{"a":1}`)
	h.waitJobs("r1", "r1-a-1", "r1-b-1", "r1-c-1") // b and c in parallel
	h.finishJob("r1", "r1-b-1", 0, `{"b":1}`)
	time.Sleep(300 * time.Millisecond)
	if _, ok := h.jobs("r1")["r1-d-1"]; ok {
		t.Fatal("d started before c finished")
	}
	h.finishJob("r1", "r1-c-1", 0, `{"c":1}`)
	h.waitJobs("r1", "r1-a-1", "r1-b-1", "r1-c-1", "r1-d-1")
	h.finishJob("r1", "r1-d-1", 0, `{"d":1}`)

	run = h.waitPhase("r1", aiasv1alpha1.RunSucceeded)
	if run.Status.StepsSummary != "4/4" || run.Status.CompletionTime == nil || run.Status.Duration == "" {
		t.Errorf("status = %+v", run.Status)
	}
	if len(run.Status.Artifacts) != 4 || run.Status.Artifacts[0].Step != "a" || run.Status.Artifacts[3].Step != "d" {
		t.Errorf("artifacts = %+v", run.Status.Artifacts)
	}
	for _, s := range run.Status.Steps {
		if s.Phase != aiasv1alpha1.StepSucceeded || s.Attempts != 1 || s.ExitCode == nil || *s.ExitCode != 0 || !strings.HasPrefix(s.OutputDigest, "sha256:") {
			t.Errorf("step %+v", s)
		}
	}
	// The index row follows the status write that ended the Run (writeStatus), a moment
	// after a watcher can see the phase.
	h.eventually(5*time.Second, "the run index to say Succeeded", func() (bool, string) {
		var phase string
		err := testStore.Pool().QueryRow(h.ctx, `select phase from run_index where uid = $1`, string(run.UID)).Scan(&phase)
		return err == nil && phase == "Succeeded", fmt.Sprintf("phase %q, %v", phase, err)
	})
	checkRunMetrics(t)
	h.eventually(5*time.Second, "events", func() (bool, string) {
		r := h.eventReasons("r1")
		return slices.Contains(r, "StepStarted") && slices.Contains(r, "Succeeded"), strings.Join(r, ",")
	})
}

// checkStepJob checks the contract of DESIGN.md "Steps and outputs" on a real Job.
func checkStepJob(t *testing.T, run *aiasv1alpha1.Run, job *batchv1.Job) {
	t.Helper()
	if ref := metav1.GetControllerOf(job); ref == nil || ref.UID != run.UID || ref.Kind != "Run" {
		t.Errorf("owner = %+v", ref)
	}
	for k, v := range map[string]string{aiasv1alpha1.LabelRun: run.Name, aiasv1alpha1.LabelStep: "a", aiasv1alpha1.LabelAttempt: "1", aiasv1alpha1.LabelRunUID: string(run.UID)} {
		if job.Labels[k] != v || job.Spec.Template.Labels[k] != v {
			t.Errorf("label %s = %q / %q, want %q", k, job.Labels[k], job.Spec.Template.Labels[k], v)
		}
	}
	pod := job.Spec.Template.Spec
	if *job.Spec.BackoffLimit != 0 || pod.RestartPolicy != corev1.RestartPolicyNever || *pod.AutomountServiceAccountToken {
		t.Errorf("backoffLimit/restartPolicy/automount = %v/%v/%v", *job.Spec.BackoffLimit, pod.RestartPolicy, *pod.AutomountServiceAccountToken)
	}
	if sc := pod.SecurityContext; sc == nil || !*sc.RunAsNonRoot || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context = %+v", sc)
	}
	if len(pod.InitContainers) != 1 || pod.InitContainers[0].Image != "aias-runner:test" ||
		strings.Join(pod.InitContainers[0].Command, " ") != "/aias-step install-runner /aias-install/aias-step" || pod.InitContainers[0].VolumeMounts[0].MountPath != "/aias-install" {
		t.Errorf("init containers = %+v", pod.InitContainers)
	}
	c := pod.Containers[0]
	if strings.Join(c.Command, " ") != "/aias/bin/aias-step step-run -- sh -c echo a" {
		t.Errorf("command = %q", c.Command)
	}
	if sc := c.SecurityContext; sc == nil || *sc.AllowPrivilegeEscalation || sc.Capabilities.Drop[0] != "ALL" {
		t.Errorf("container security context = %+v", sc)
	}
	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	if env[stepjob.EnvAPIURL].Value != "http://internal.test:8082" || env[stepjob.EnvRun].Value != run.Name || env[stepjob.EnvStep].Value != "a" ||
		env[stepjob.EnvAttempt].Value != "1" || env[stepjob.EnvFrom].Value != "" || env[stepjob.EnvToken].ValueFrom.SecretKeyRef.Name != "r1-step-token" {
		t.Errorf("env = %+v", c.Env)
	}
}

// A step with retries fails twice and succeeds on the third attempt, each attempt its
// own Job after the backoff; a step without retries left fails the Run and skips what
// depends on it, with the exit code and reason in the status.
func TestRunRetriesThenFails(t *testing.T) {
	h := newRunHarness(t)
	flaky := step("flaky")
	flaky.Retries = &aiasv1alpha1.RetryPolicy{Limit: 2, Backoff: &aiasv1alpha1.RetryBackoff{
		Duration: &metav1.Duration{Duration: 200 * time.Millisecond}, Factor: ptr.To[int32](2), MaxDuration: &metav1.Duration{Duration: time.Second}}}
	h.workflow("retry", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{flaky, step("broken"), step("after")}})
	h.run("r", "retry", "")

	h.waitJobs("r", "r-flaky-1")
	h.finishJob("r", "r-flaky-1", 1, "")
	run := h.waitPhase("r", aiasv1alpha1.RunRunning)
	h.eventually(5*time.Second, "flaky to be retrying", func() (bool, string) {
		run = h.get("r")
		s := run.Status.Steps[0]
		return s.Phase == aiasv1alpha1.StepRetrying || s.Attempts == 2, stepPhases(run)
	})
	h.waitJobs("r", "r-flaky-1", "r-flaky-2")
	h.finishJob("r", "r-flaky-2", 1, "")
	h.waitJobs("r", "r-flaky-1", "r-flaky-2", "r-flaky-3")
	h.finishJob("r", "r-flaky-3", 0, `"ok"`)
	h.waitJobs("r", "r-flaky-1", "r-flaky-2", "r-flaky-3", "r-broken-1")
	h.finishJob("r", "r-broken-1", 3, "")

	run = h.waitPhase("r", aiasv1alpha1.RunFailed)
	s := run.Status.Steps
	if s[0].Phase != aiasv1alpha1.StepSucceeded || s[0].Attempts != 3 {
		t.Errorf("flaky = %+v", s[0])
	}
	if s[1].Phase != aiasv1alpha1.StepFailed || s[1].ExitCode == nil || *s[1].ExitCode != 3 || s[1].Message != "command exited with code 3" {
		t.Errorf("broken = %+v", s[1])
	}
	if s[2].Phase != aiasv1alpha1.StepSkipped || len(h.jobs("r")) != 4 {
		t.Errorf("after = %+v, jobs %v", s[2], jobNames(h.jobs("r")))
	}
	if run.Status.Message != "step broken failed: command exited with code 3" {
		t.Errorf("message = %q", run.Status.Message)
	}
	if got := runengine.Backoff(flaky.Retries.Backoff, 1); got != 200*time.Millisecond {
		t.Errorf("backoff(1) = %v", got)
	}
	if got := runengine.Backoff(flaky.Retries.Backoff, 5); got != time.Second {
		t.Errorf("backoff(5) = %v, want the 1s cap", got)
	}
}

// Step timeout becomes activeDeadlineSeconds and its expiry reads as a timeout; the
// Workflow timeout fails the Run and stops the Job still running.
func TestRunTimeouts(t *testing.T) {
	h := newRunHarness(t)
	slow := step("slow")
	slow.Timeout = &metav1.Duration{Duration: 90 * time.Second}
	h.workflow("deadline", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{slow}})
	h.run("step-timeout", "deadline", "")
	jobs := h.waitJobs("step-timeout", "step-timeout-slow-1")
	if d := jobs["step-timeout-slow-1"].Spec.ActiveDeadlineSeconds; d == nil || *d != 90 {
		t.Fatalf("activeDeadlineSeconds = %v", d)
	}
	h.endPod("step-timeout-slow-1", 137, "DeadlineExceeded")
	run := h.waitPhase("step-timeout", aiasv1alpha1.RunFailed)
	if m := run.Status.Steps[0].Message; m != "timed out after 1m30s" {
		t.Errorf("step message = %q", m)
	}

	h.workflow("whole", aiasv1alpha1.WorkflowSpec{Timeout: &metav1.Duration{Duration: 2 * time.Second}, Steps: []aiasv1alpha1.WorkflowStep{step("forever"), step("next")}})
	h.run("wf-timeout", "whole", "")
	h.waitJobs("wf-timeout", "wf-timeout-forever-1")
	run = h.waitPhase("wf-timeout", aiasv1alpha1.RunFailed)
	if c := readyCondition(run); c == nil || c.Reason != "Timeout" || run.Status.Steps[1].Phase != aiasv1alpha1.StepSkipped {
		t.Errorf("ready = %+v, steps %s", c, stepPhases(run))
	}
	h.waitJobs("wf-timeout") // the running Job was stopped
}

func readyCondition(run *aiasv1alpha1.Run) *metav1.Condition {
	for i := range run.Status.Conditions {
		if run.Status.Conditions[i].Type == "Ready" {
			return &run.Status.Conditions[i]
		}
	}
	return nil
}

// spec.cancel stops the running Job and ends the Run Canceled.
func TestRunCancel(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a"), step("b")}})
	h.run("c", "w", "")
	h.waitJobs("c", "c-a-1")
	// The Job is created before the status that records the steps: cancel once that
	// status landed (a cancel in between ends the Run with no steps listed).
	h.waitPhase("c", aiasv1alpha1.RunRunning)
	run := h.get("c")
	patch := client.MergeFrom(run.DeepCopy())
	run.Spec.Cancel = true
	if err := h.c.Patch(h.ctx, run, patch); err != nil {
		t.Fatal(err)
	}
	run = h.waitPhase("c", aiasv1alpha1.RunCanceled)
	if run.Status.Steps[0].Phase != aiasv1alpha1.StepCanceled || run.Status.Steps[1].Phase != aiasv1alpha1.StepSkipped {
		t.Errorf("steps %s", stepPhases(run))
	}
	h.waitJobs("c")
}

// Forbid rejects a second Run while one is active; Queue holds Runs in order and starts
// the next as soon as a slot frees.
func TestRunConcurrencyPolicies(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("forbid", aiasv1alpha1.WorkflowSpec{Concurrency: &aiasv1alpha1.ConcurrencyPolicy{Policy: aiasv1alpha1.ConcurrencyForbid}, Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("f1", "forbid", "")
	h.waitJobs("f1", "f1-a-1")
	h.run("f2", "forbid", "")
	run := h.waitPhase("f2", aiasv1alpha1.RunRejected)
	if c := readyCondition(run); c == nil || c.Reason != "ConcurrencyForbidden" {
		t.Errorf("ready = %+v", c)
	}

	h.workflow("queue", aiasv1alpha1.WorkflowSpec{Concurrency: &aiasv1alpha1.ConcurrencyPolicy{Policy: aiasv1alpha1.ConcurrencyQueue, Max: ptr.To[int32](1)}, Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("q1", "queue", "")
	h.waitJobs("q1", "q1-a-1")
	h.run("q2", "queue", "")
	time.Sleep(10 * time.Millisecond) // distinct creation order (timestamps have 1s resolution; names break ties)
	h.run("q3", "queue", "")
	h.waitPhase("q2", aiasv1alpha1.RunQueued)
	h.waitPhase("q3", aiasv1alpha1.RunQueued)
	h.finishJob("q1", "q1-a-1", 0, "")
	h.waitPhase("q1", aiasv1alpha1.RunSucceeded)
	h.waitJobs("q2", "q2-a-1")
	if p := h.get("q3").Status.Phase; p != aiasv1alpha1.RunQueued {
		t.Fatalf("q3 is %s while q2 runs", p)
	}
	h.finishJob("q2", "q2-a-1", 1, "")
	h.waitPhase("q2", aiasv1alpha1.RunFailed)
	h.waitJobs("q3", "q3-a-1")
}

// A Run keeps the spec it started with: editing the Workflow mid-run changes nothing
// for it, and the next Run gets the new spec.
func TestRunFreezesWorkflowSpec(t *testing.T) {
	h := newRunHarness(t)
	wf := h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a"), step("b")}})
	h.run("old", "w", "")
	h.waitJobs("old", "old-a-1")
	patch := client.MergeFrom(wf.DeepCopy())
	wf.Spec.Steps[1].Image = "alpine:3.22"
	if err := h.c.Patch(h.ctx, wf, patch); err != nil {
		t.Fatal(err)
	}
	h.finishJob("old", "old-a-1", 0, "")
	jobs := h.waitJobs("old", "old-a-1", "old-b-1")
	if img := jobs["old-b-1"].Spec.Template.Spec.Containers[0].Image; img != "busybox:1.37" {
		t.Errorf("running Run picked up the edit: image %s", img)
	}
	h.run("new", "w", "")
	h.waitJobs("new", "new-a-1")
	h.waitPhase("new", aiasv1alpha1.RunRunning)
	if h.get("new").Status.SpecDigest == h.get("old").Status.SpecDigest {
		t.Error("the new Run has the old spec digest")
	}
}

// A Run waits briefly for a Workflow that does not exist yet and starts when it
// appears; one whose Workflow never appears fails, naming it.
func TestRunMissingWorkflow(t *testing.T) {
	h := newRunHarness(t)
	h.run("early", "later", "")
	h.eventually(10*time.Second, "WorkflowNotFound", func() (bool, string) {
		c := readyCondition(h.get("early"))
		return c != nil && c.Reason == "WorkflowNotFound", ""
	})
	h.workflow("later", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.waitJobs("early", "early-a-1")

	h.run("orphan", "missing", "")
	run := h.waitPhase("orphan", aiasv1alpha1.RunFailed)
	if c := readyCondition(run); c == nil || c.Reason != "WorkflowNotFound" || run.Status.Message != `workflow "missing" does not exist in namespace `+h.ns {
		t.Errorf("ready = %+v, message %q", c, run.Status.Message)
	}
}

// A restart between creating a Job and recording it in status adopts the Job instead
// of running the attempt twice.
func TestRunAdoptsJobAfterLostStatus(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("x", "w", "")
	h.waitJobs("x", "x-a-1")
	h.eventually(10*time.Second, "the attempt in status", func() (bool, string) {
		run := h.get("x")
		return len(run.Status.Steps) == 1 && run.Status.Steps[0].Attempts == 1, stepPhases(run)
	})
	h.stop()
	h.stop = nil
	run := h.get("x")
	patch := client.MergeFrom(run.DeepCopy())
	run.Status.Steps[0] = aiasv1alpha1.StepStatus{Name: "a", Phase: aiasv1alpha1.StepPending}
	if err := h.c.Status().Patch(h.ctx, run, patch); err != nil {
		t.Fatal(err)
	}
	h.start()
	h.eventually(10*time.Second, "adoption", func() (bool, string) {
		run := h.get("x")
		return run.Status.Steps[0].Attempts == 1 && run.Status.Steps[0].Phase == aiasv1alpha1.StepRunning, stepPhases(run)
	})
	if got := jobNames(h.jobs("x")); len(got) != 1 {
		t.Fatalf("jobs %v after restart, want only x-a-1", got)
	}
	h.finishJob("x", "x-a-1", 0, "")
	h.waitPhase("x", aiasv1alpha1.RunSucceeded)
}

// Deleting a Run deletes its Jobs, token Secret and every row the store holds for it.
func TestRunDeletionCleansUp(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a"), step("b")}})
	h.run("d", "w", `{"x":1}`)
	h.waitJobs("d", "d-a-1")
	h.finishJob("d", "d-a-1", 0, `{"out":1}`)
	h.waitJobs("d", "d-a-1", "d-b-1")
	run := h.get("d")
	if err := h.c.Delete(h.ctx, run); err != nil {
		t.Fatal(err)
	}
	h.eventually(10*time.Second, "the run to go", func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKeyFromObject(run), &aiasv1alpha1.Run{})
		return isNotFound(err), ""
	})
	for table, col := range map[string]string{"artifacts": "run_uid", "run_index": "uid", "step_outcomes": "run_uid", "run_slots": "run_uid"} {
		var n int
		if err := testStore.Pool().QueryRow(h.ctx, "select count(*) from "+table+" where "+col+" = $1", string(run.UID)).Scan(&n); err != nil || n != 0 {
			t.Errorf("%s: %d rows left (%v)", table, n, err)
		}
	}
	h.waitJobs("d")
	// kube-controller-manager's garbage collector removes the Pods of the deleted Jobs.
	h.eventually(20*time.Second, "the Pods to go", func() (bool, string) {
		pods := h.pods("d")
		return len(pods) == 0, fmt.Sprint(len(pods), " pods left")
	})
	h.eventually(20*time.Second, "the token Secret to go", func() (bool, string) {
		err := h.c.Get(h.ctx, client.ObjectKey{Namespace: h.ns, Name: "d-step-token"}, &corev1.Secret{})
		return isNotFound(err), fmt.Sprint(err)
	})
}

func TestChildNames(t *testing.T) {
	long := strings.Repeat("r", 60)
	a, b := jobName(long, "build", 1), jobName(long, "build", 2)
	if len(a) > 63 || a == b || jobName(long, "build", 1) != a {
		t.Errorf("names %q %q", a, b)
	}
	if got := jobName("run", "step", 3); got != "run-step-3" {
		t.Errorf("short name = %q", got)
	}
}

// checkRunMetrics reads the registry the manager's metrics endpoint serves.
func checkRunMetrics(t *testing.T) {
	t.Helper()
	families, err := metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			labels := ""
			for _, l := range m.GetLabel() {
				labels += l.GetName() + "=" + l.GetValue() + ","
			}
			switch {
			case m.GetCounter() != nil:
				found[f.GetName()+"{"+labels+"}"] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				found[f.GetName()+"{"+labels+"}"] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				found[f.GetName()+"{"+labels+"}"] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	for _, name := range []string{
		"aias_runs_finished_total{phase=Succeeded,}",
		"aias_run_duration_seconds{phase=Succeeded,}",
		"aias_step_attempt_duration_seconds{outcome=Succeeded,}",
		"aias_runs{phase=Succeeded,}",
	} {
		if found[name] < 1 {
			t.Errorf("metric %s = %v, want >= 1", name, found[name])
		}
	}
}

// A tenant's plan bounds its Runs: beyond concurrentRuns they wait Queued (never fail),
// beyond runsPerMonth they are Rejected with reason QuotaExceeded.
func TestRunTenantPlanLimits(t *testing.T) {
	h := newRunHarness(t)
	tenant, _ := h.tenantOnPlan("tiny", aiasv1alpha1.PlanLimits{RunsPerMonth: ptr.To[int64](2), ConcurrentRuns: ptr.To[int32](1)})
	h.workflow("a", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("s")}})
	h.workflow("b", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("s")}})
	h.run("first", "a", "")
	h.waitJobs("first", "first-s-1")
	h.run("second", "b", "") // another Workflow: the tenant-wide limit still applies
	run := h.waitPhase("second", aiasv1alpha1.RunQueued)
	if !strings.Contains(run.Status.Message, "allows 1 concurrent run") {
		t.Errorf("queued message %q", run.Status.Message)
	}
	h.finishJob("first", "first-s-1", 0, "")
	h.waitJobs("second", "second-s-1")
	h.finishJob("second", "second-s-1", 0, "")
	h.waitPhase("second", aiasv1alpha1.RunSucceeded)

	h.run("third", "a", "")
	run = h.waitPhase("third", aiasv1alpha1.RunRejected)
	if c := readyCondition(run); c == nil || c.Reason != "QuotaExceeded" || !strings.Contains(c.Message, "allows 2 runs per billing period and 2 have started") {
		t.Errorf("ready = %+v", c)
	}
	if len(h.jobs("third")) != 0 {
		t.Error("a Job started for a Run over the quota")
	}

	// An upgrade lifts the limit at once: the billing endpoint writes the subscription
	// into the Tenant's status, and the next Run is held to the bigger plan.
	big := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: h.ns + "-big"},
		Spec: aiasv1alpha1.PlanSpec{StripePriceIDs: []string{"price_big"}, Limits: aiasv1alpha1.PlanLimits{RunsPerMonth: ptr.To[int64](100)}}}
	if err := h.c.Create(h.ctx, big); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.c.Delete(h.ctx, big) })
	patch := client.MergeFrom(tenant.DeepCopy())
	tenant.Status.Subscription = &aiasv1alpha1.SubscriptionStatus{ID: "sub_1", Status: "active", PriceID: "price_big"}
	if err := h.c.Status().Patch(h.ctx, tenant, patch); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second) // the manager's cache sees the Tenant and the Plan (milliseconds, in practice)
	h.run("fourth", "a", "")
	h.waitJobs("fourth", "fourth-s-1")
}

// A step that names no timeout is bounded by the plan's maxStepTimeout (admission only
// sees timeouts that are written down); one that names a timeout keeps it.
func TestRunStepWithoutTimeoutBoundedByPlan(t *testing.T) {
	h := newRunHarness(t)
	h.tenantOnPlan("short", aiasv1alpha1.PlanLimits{MaxStepTimeout: &metav1.Duration{Duration: 90 * time.Second}})
	timed := step("timed")
	timed.Timeout = &metav1.Duration{Duration: 30 * time.Second}
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("open"), timed}})
	h.run("r", "w", "")
	jobs := h.waitJobs("r", "r-open-1")
	if d := jobs["r-open-1"].Spec.ActiveDeadlineSeconds; d == nil || *d != 90 {
		t.Errorf("step without a timeout: activeDeadlineSeconds %v, want the plan's 90", d)
	}
	h.finishJob("r", "r-open-1", 0, "")
	jobs = h.waitJobs("r", "r-open-1", "r-timed-1")
	if d := jobs["r-timed-1"].Spec.ActiveDeadlineSeconds; d == nil || *d != 30 {
		t.Errorf("step with its own timeout: activeDeadlineSeconds %v, want 30", d)
	}
}

func TestPeriodStart(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	if got := periodStart(&aiasv1alpha1.Tenant{}, now); !got.Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("calendar period %v", got)
	}
	end := metav1.NewTime(time.Date(2026, 12, 15, 0, 0, 0, 0, time.UTC))
	tn := &aiasv1alpha1.Tenant{Status: aiasv1alpha1.TenantStatus{Subscription: &aiasv1alpha1.SubscriptionStatus{CurrentPeriodEnd: &end}}}
	if got := periodStart(tn, now); !got.Equal(time.Date(2026, 11, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("subscription period %v", got)
	}
	if got := periodStart(tn, now.AddDate(0, 2, 0)); !got.Equal(time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("rolled-over period %v", got)
	}
}
