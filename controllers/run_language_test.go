package controllers

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// The workflow language on the real control plane and node agent: a when over a parsed
// result skips one branch (and, through dependsOn, what follows it), a depends join
// runs after whichever branch ran, and $(steps.build.result.version) reaches a later
// step's args and env. Skipped steps cost no Job.
func TestRunWhenDependsAndResultValues(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	build := shStep("build", `printf '{"version":"1.2.3","channel":"stable"}'`, []string{}...)
	prod := shStep("deploy-prod", `printf '{"arg":"%s","env":"%s"}' "$1" "$VERSION"`, "build")
	prod.When = `steps.build.result.channel == "stable"`
	prod.Args = []string{"$(steps.build.result.version)"}
	prod.Env = []corev1.EnvVar{{Name: "VERSION", Value: "v$(steps.build.result.version)"}}
	canary := shStep("deploy-canary", "echo canary", "build")
	canary.When = `steps["build"].result.channel != "stable"`
	verify := shStep("verify-canary", "echo verify", "deploy-canary")
	notify := shStep("notify", "echo notified", []string{}...)
	notify.DependsOn, notify.Depends = nil, "deploy-prod || deploy-canary"
	h.workflow("lang", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{build, prod, canary, verify, notify}})

	h.run("lang-1", "lang", "")
	run := h.waitPhaseWithin("lang-1", aiasv1alpha1.RunSucceeded, 90*time.Second)
	if got := stepPhases(run); got != "build=Succeeded/1,deploy-prod=Succeeded/1,deploy-canary=Skipped/0,verify-canary=Skipped/0,notify=Succeeded/1" {
		t.Errorf("steps %s", got)
	}
	if run.Status.StepsSummary != "3/5 (2 skipped)" {
		t.Errorf("summary %q", run.Status.StepsSummary)
	}
	msgs := map[string]string{}
	for _, s := range run.Status.Steps {
		msgs[s.Name] = s.Message
	}
	if !strings.Contains(msgs["deploy-canary"], "when is false") || !strings.Contains(msgs["verify-canary"], "dependency deploy-canary was skipped") {
		t.Errorf("skip messages %q", msgs)
	}
	if result := stepResult(t, run, "deploy-prod"); result != `{"arg":"1.2.3","env":"v1.2.3"}` {
		t.Errorf("deploy-prod result %q: the build's version did not reach its args and env", result)
	}
	if jobs := h.jobs("lang-1"); len(jobs) != 3 {
		t.Errorf("%d Jobs, want 3 (skipped steps create none)", len(jobs))
	}
}

// Finally steps run once every step has ended, whatever the outcome: after a failure they
// read how the Run's steps ended ($(run.phase), run.failedSteps), a finally step whose
// when is false is skipped, and the Run fails by its step's reason, first.
func TestRunFinallyAfterFailure(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	build := shStep("build", "echo built", []string{}...)
	test := shStep("test", "echo tests failed >&2; exit 4", "build")
	deploy := shStep("deploy", "echo deployed", "test")
	report := shStep("report", `printf '{"phase":"%s","failed":"%s"}' "$1" "$2"`, []string{}...)
	report.DependsOn = nil
	report.Args = []string{"$(run.phase)", "$(run.failedSteps)"}
	celebrate := shStep("celebrate", "echo yay")
	celebrate.DependsOn = nil
	celebrate.When = `run.phase == "Succeeded"`
	h.workflow("fin", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{build, test, deploy},
		Finally: []aiasv1alpha1.WorkflowStep{report, celebrate}})

	h.run("fin-1", "fin", "")
	run := h.waitPhaseWithin("fin-1", aiasv1alpha1.RunFailed, 90*time.Second)
	if got := stepPhases(run); got != "build=Succeeded/1,test=Failed/1,deploy=Skipped/0,report=Succeeded/1,celebrate=Skipped/0" {
		t.Errorf("steps %s", got)
	}
	if !strings.HasPrefix(run.Status.Message, "step test failed: ") {
		t.Errorf("message %q: the step's failure must come first", run.Status.Message)
	}
	if result := stepResult(t, run, "report"); result != `{"phase":"Failed","failed":"test"}` {
		t.Errorf("report result %q", result)
	}
}

// A Run canceled mid-step, and one past its timeout, stop their steps and still run their
// finally steps, which read how the Run was stopped; the Runs then end Canceled and
// Failed (Timeout) by the stop's reason.
func TestRunFinallyAfterCancelAndTimeout(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	slow := shStep("slow", "sleep 60", []string{}...)
	after := shStep("after", "echo never")
	report := shStep("report", `printf '{"phase":"%s"}' "$1"`, []string{}...)
	report.DependsOn, report.Args = nil, []string{"$(run.phase)"}
	spec := aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{slow, after}, Finally: []aiasv1alpha1.WorkflowStep{report}}
	h.workflow("cancel", spec)
	spec.Timeout = &metav1.Duration{Duration: 3 * time.Second}
	h.workflow("timeout", spec)

	h.run("cancel-1", "cancel", "")
	h.run("timeout-1", "timeout", "")
	h.eventually(time.Minute, "cancel-1's slow step runs", func() (bool, string) {
		run := h.get("cancel-1")
		return len(run.Status.Steps) > 0 && run.Status.Steps[0].Phase == aiasv1alpha1.StepRunning, stepPhases(run)
	})
	run := h.get("cancel-1")
	patch := client.MergeFrom(run.DeepCopy())
	run.Spec.Cancel = true
	if err := h.c.Patch(h.ctx, run, patch); err != nil {
		t.Fatal(err)
	}

	for name, want := range map[string]struct {
		phase         aiasv1alpha1.RunPhase
		reason, steps string
		report        string
	}{
		"cancel-1":  {aiasv1alpha1.RunCanceled, aiasv1alpha1.RunReasonCanceled, "slow=Canceled/1,after=Skipped/0,report=Succeeded/1", `{"phase":"Canceled"}`},
		"timeout-1": {aiasv1alpha1.RunFailed, aiasv1alpha1.RunReasonTimeout, "slow=Failed/1,after=Skipped/0,report=Succeeded/1", `{"phase":"Failed"}`},
	} {
		run := h.waitPhaseWithin(name, want.phase, 90*time.Second)
		if got := stepPhases(run); got != want.steps {
			t.Errorf("%s: steps %s, want %s", name, got, want.steps)
		}
		if c := readyCondition(run); c == nil || c.Reason != want.reason {
			t.Errorf("%s: Ready %+v, want reason %s", name, c, want.reason)
		}
		if run.Status.Stopping == nil || run.Status.Stopping.Reason != want.reason {
			t.Errorf("%s: stopping %+v", name, run.Status.Stopping)
		}
		if got := stepResult(t, run, "report"); got != want.report {
			t.Errorf("%s: report %q, want %q", name, got, want.report)
		}
	}
}

// stepResult is the content of step's result artifact as the Run's status lists it ("" when
// it has none).
func stepResult(t *testing.T, run *aiasv1alpha1.Run, step string) string {
	t.Helper()
	for _, a := range run.Status.Artifacts {
		if a.Step == step && a.Name == "result" {
			r, _, err := testStore.OpenBlob(context.Background(), a.Digest)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			b, _ := io.ReadAll(r)
			return string(b)
		}
	}
	return ""
}

// The shipped sample of the workflow language (config/samples/07-workflow-language.yaml)
// runs as its comments say: three items from the plan step's result, the announcement
// only for production, and the finally step's report either way.
func TestRunLanguageSample(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()

	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "samples", "07-workflow-language.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	wf := &aiasv1alpha1.Workflow{}
	if err := yaml.Unmarshal(raw, wf); err != nil {
		t.Fatal(err)
	}
	wf.Namespace = h.ns
	if err := h.c.Create(h.ctx, wf); err != nil {
		t.Fatal(err)
	}
	for name, env := range map[string]string{"prod": "production", "stage": "staging"} {
		run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: h.ns},
			Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: wf.Name}, Params: map[string]string{"env": env}}}
		if err := h.c.Create(h.ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	run := h.waitPhaseWithin("prod", aiasv1alpha1.RunSucceeded, 2*time.Minute)
	if got := stepPhases(run); got != "plan=Succeeded/1,check=Succeeded/0,announce=Succeeded/1,report=Succeeded/1" {
		t.Errorf("prod: steps %s", got)
	}
	if n := len(run.Status.Steps[1].Items); n != 3 {
		t.Errorf("prod: %d items, want 3 (api, web, worker)", n)
	}
	if got := stepResult(t, run, "report"); got != "run prod ended: Succeeded (failed: none)\n" {
		t.Errorf("prod: report %q", got)
	}
	run = h.waitPhaseWithin("stage", aiasv1alpha1.RunSucceeded, 2*time.Minute)
	if got := stepPhases(run); got != "plan=Succeeded/1,check=Succeeded/0,announce=Skipped/0,report=Succeeded/1" {
		t.Errorf("stage: steps %s", got)
	}
}
