package runengine

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"reflect"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

// step is a spec step; deps nil means "after the previous step".
func step(name string, deps ...string) aiasv1alpha1.WorkflowStep {
	s := aiasv1alpha1.WorkflowStep{Name: name, Image: "busybox"}
	if deps != nil {
		s.DependsOn = deps
	}
	return s
}

func withRetries(s aiasv1alpha1.WorkflowStep, limit int32, base time.Duration) aiasv1alpha1.WorkflowStep {
	s.Retries = &aiasv1alpha1.RetryPolicy{Limit: limit, Backoff: &aiasv1alpha1.RetryBackoff{Duration: &metav1.Duration{Duration: base}}}
	return s
}

func st(name string, phase aiasv1alpha1.StepPhase, attempts int32) aiasv1alpha1.StepStatus {
	return aiasv1alpha1.StepStatus{Name: name, Phase: phase, Attempts: attempts}
}

func mtime(t time.Time) *metav1.Time { m := metav1.NewTime(t); return &m }

func running(step string, n int32) Attempt { return Running(step, n, step+"-job", t0) }

func failed(step string, n int32, at time.Time, end End) Attempt {
	end.FinishedAt = at
	return Finished(step, n, step+"-job", t0, end)
}

func succeeded(step string, n int32, at time.Time) Attempt {
	return Finished(step, n, step+"-job", t0, End{Succeeded: true, FinishedAt: at, OutputDigest: "sha256:out"})
}

func input(steps []aiasv1alpha1.WorkflowStep, status []aiasv1alpha1.StepStatus, attempts ...Attempt) Input {
	in := Input{
		Spec:     &aiasv1alpha1.WorkflowSpec{Steps: steps},
		Status:   &aiasv1alpha1.RunStatus{Phase: aiasv1alpha1.RunRunning, StartTime: mtime(t0), Steps: status},
		Attempts: map[string]Attempt{},
		Now:      t0.Add(time.Minute),
	}
	for _, a := range attempts {
		in.Attempts[a.Step] = a
	}
	return in
}

func phases(steps []aiasv1alpha1.StepStatus) string {
	var out []string
	for _, s := range steps {
		out = append(out, s.Name+"="+string(s.Phase))
	}
	return strings.Join(out, " ")
}

func TestDecide(t *testing.T) {
	now := t0.Add(time.Minute)
	diamond := []aiasv1alpha1.WorkflowStep{step("a", []string{}...), step("b", "a"), step("c", "a"), step("d", "b", "c")}
	diamond[0].DependsOn = []string{}
	cases := []struct {
		name       string
		in         Input
		wantPhases string
		wantStarts []Start
		wantFinish *Finish
		wantWake   time.Duration
		check      func(t *testing.T, d Decision)
	}{{
		name:       "first step starts",
		in:         input(diamond, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepPending, 0), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0), st("d", aiasv1alpha1.StepPending, 0)}),
		wantPhases: "a=Running b=Pending c=Pending d=Pending",
		wantStarts: []Start{{Index: 0, Item: -1, Step: "a", Attempt: 1}},
		check: func(t *testing.T, d Decision) {
			if d.Steps[0].StartTime == nil || !d.Steps[0].StartTime.Time.Equal(now) {
				t.Errorf("start time = %v, want now", d.Steps[0].StartTime)
			}
		},
	}, {
		name: "a succeeds: b and c start in the same pass, d waits",
		in: input(diamond, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0), st("d", aiasv1alpha1.StepPending, 0)},
			succeeded("a", 1, now)),
		wantPhases: "a=Succeeded b=Running c=Running d=Pending",
		wantStarts: []Start{{Index: 1, Item: -1, Step: "b", Attempt: 1}, {Index: 2, Item: -1, Step: "c", Attempt: 1}},
		check: func(t *testing.T, d Decision) {
			if !d.RefreshArtifacts || d.Steps[0].OutputDigest != "sha256:out" || *d.Steps[0].ExitCode != 0 {
				t.Errorf("success not recorded: %+v", d.Steps[0])
			}
		},
	}, {
		name: "d waits for both dependencies",
		in: input(diamond, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepSucceeded, 1), st("c", aiasv1alpha1.StepRunning, 1), st("d", aiasv1alpha1.StepPending, 0)},
			running("c", 1)),
		wantPhases: "a=Succeeded b=Succeeded c=Running d=Pending",
	}, {
		name: "last step succeeds: the Run succeeds",
		in: input(diamond, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepSucceeded, 1), st("c", aiasv1alpha1.StepSucceeded, 1), st("d", aiasv1alpha1.StepRunning, 1)},
			succeeded("d", 1, now)),
		wantPhases: "a=Succeeded b=Succeeded c=Succeeded d=Succeeded",
		wantFinish: &Finish{Phase: aiasv1alpha1.RunSucceeded, Reason: "Succeeded", Message: "all 4 steps succeeded"},
	}, {
		name: "a failure with retries left: retrying after the backoff",
		in: input([]aiasv1alpha1.WorkflowStep{withRetries(step("a"), 2, 5*time.Second), step("b")}, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1), st("b", aiasv1alpha1.StepPending, 0)},
			failed("a", 1, now.Add(-time.Second), End{Reason: batchv1.JobReasonBackoffLimitExceeded, Report: &Report{ExitCode: 3, Message: "boom"}})),
		wantPhases: "a=Retrying b=Pending",
		wantWake:   4 * time.Second,
		check: func(t *testing.T, d Decision) {
			a := d.Steps[0]
			if !a.NextAttemptTime.Time.Equal(now.Add(4*time.Second)) || *a.ExitCode != 3 || a.Message != "boom" {
				t.Errorf("retry = %+v", a)
			}
			if len(d.Events) != 1 || d.Events[0].Reason != "StepRetrying" || d.Events[0].Message != "Step a attempt 1 failed (boom); attempt 2 in 5s" {
				t.Errorf("events = %+v", d.Events)
			}
		},
	}, {
		name:       "a retry not due yet waits",
		in:         input([]aiasv1alpha1.WorkflowStep{withRetries(step("a"), 2, 5*time.Second)}, []aiasv1alpha1.StepStatus{{Name: "a", Phase: aiasv1alpha1.StepRetrying, Attempts: 1, NextAttemptTime: mtime(now.Add(3 * time.Second))}}),
		wantPhases: "a=Retrying",
		wantWake:   3 * time.Second,
	}, {
		name:       "a retry that is due starts the next attempt",
		in:         input([]aiasv1alpha1.WorkflowStep{withRetries(step("a"), 2, 5*time.Second)}, []aiasv1alpha1.StepStatus{{Name: "a", Phase: aiasv1alpha1.StepRetrying, Attempts: 1, NextAttemptTime: mtime(now), Message: "boom", ExitCode: ptrInt32(3)}}),
		wantPhases: "a=Running",
		wantStarts: []Start{{Index: 0, Item: -1, Step: "a", Attempt: 2}},
		check: func(t *testing.T, d Decision) {
			if a := d.Steps[0]; a.NextAttemptTime != nil || a.ExitCode != nil || a.Message != "" {
				t.Errorf("the new attempt keeps the last one's outcome: %+v", a)
			}
		},
	}, {
		name: "retries exhausted: the step fails, its dependents are skipped, the Run fails",
		in: input([]aiasv1alpha1.WorkflowStep{withRetries(step("a"), 1, time.Second), step("b"), step("c", "b")}, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 2), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0)},
			failed("a", 2, now, End{Reason: batchv1.JobReasonBackoffLimitExceeded, ExitCode: ptrInt32(137)})),
		wantPhases: "a=Failed b=Skipped c=Skipped",
		wantFinish: &Finish{Phase: aiasv1alpha1.RunFailed, Reason: "StepFailed", Message: "step a failed: the step's container was killed (exit code 137)"},
		check: func(t *testing.T, d Decision) {
			if d.Steps[1].Message != "not run: dependency a failed" || d.Steps[2].Message != "not run: dependency b was skipped" {
				t.Errorf("skip messages = %q, %q", d.Steps[1].Message, d.Steps[2].Message)
			}
			if len(d.Events) != 1 || d.Events[0].Reason != "StepFailed" || d.Events[0].Type != "Warning" {
				t.Errorf("events = %+v", d.Events)
			}
		},
	}, {
		name: "a failure while a sibling runs: the Run waits for it, independent pending steps are skipped",
		in: input([]aiasv1alpha1.WorkflowStep{step("a", []string{}...), step("b", []string{}...), step("c", []string{}...)},
			[]aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1), st("b", aiasv1alpha1.StepRunning, 1), st("c", aiasv1alpha1.StepPending, 0)},
			failed("a", 1, now, End{Message: "x"}), running("b", 1)),
		wantPhases: "a=Failed b=Running c=Skipped",
		check: func(t *testing.T, d Decision) {
			if d.Steps[2].Message != "not run: another step failed" {
				t.Errorf("c message = %q", d.Steps[2].Message)
			}
		},
	}, {
		name: "decided again after a refused Pod: the step fails and no later step starts",
		in: input([]aiasv1alpha1.WorkflowStep{step("a", []string{}...), step("b", []string{}...)}, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1), st("b", aiasv1alpha1.StepPending, 0)},
			failed("a", 1, now, End{Reason: aiasv1alpha1.StepJobReasonPodRefused, Message: "the step's Pod was refused: violates PodSecurity"})),
		wantPhases: "a=Failed b=Skipped",
		wantFinish: &Finish{Phase: aiasv1alpha1.RunFailed, Reason: "StepFailed", Message: "step a failed: the step's Pod was refused: violates PodSecurity"},
	}, {
		name: "step timeout is told as such",
		in: input([]aiasv1alpha1.WorkflowStep{func() aiasv1alpha1.WorkflowStep {
			s := step("a")
			s.Timeout = &metav1.Duration{Duration: 30 * time.Second}
			return s
		}()}, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1)},
			failed("a", 1, now, End{Reason: batchv1.JobReasonDeadlineExceeded, Message: "Job was active longer than specified deadline"})),
		wantPhases: "a=Failed",
		wantFinish: &Finish{Phase: aiasv1alpha1.RunFailed, Reason: "StepFailed", Message: "step a failed: timed out after 30s"},
	}, {
		name: "a deleted Job fails the attempt with the Job's message",
		in: input([]aiasv1alpha1.WorkflowStep{step("a")}, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1)},
			failed("a", 1, now, End{Reason: ReasonJobDeleted, Message: "the step's Job was deleted before it finished"})),
		wantPhases: "a=Failed",
		wantFinish: &Finish{Phase: aiasv1alpha1.RunFailed, Reason: "StepFailed", Message: "step a failed: the step's Job was deleted before it finished"},
	}, {
		name: "an unrecorded Job is adopted, not started again",
		in: input([]aiasv1alpha1.WorkflowStep{step("a")}, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepPending, 0)},
			running("a", 1)),
		wantPhases: "a=Running",
		check: func(t *testing.T, d Decision) {
			if a := d.Steps[0]; a.JobName != "a-job" || a.Attempts != 1 || !a.StartTime.Time.Equal(t0) {
				t.Errorf("adopted = %+v", a)
			}
		},
	}, {
		name: "an unsettled observation stops the pass",
		in: input([]aiasv1alpha1.WorkflowStep{step("a", []string{}...), step("b", []string{}...)}, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1), st("b", aiasv1alpha1.StepPending, 0)},
			NotYetKnown("a", 1, "a-job", t0, time.Second)),
		wantPhases: "a=Running b=Pending",
		wantWake:   time.Second,
	}, {
		name: "the Run's timeout fails running steps and skips pending ones",
		in: func() Input {
			in := input([]aiasv1alpha1.WorkflowStep{step("a"), step("b")}, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1), st("b", aiasv1alpha1.StepPending, 0)}, running("a", 1))
			in.Spec.Timeout = &metav1.Duration{Duration: time.Minute}
			return in
		}(),
		wantPhases: "a=Failed b=Skipped",
		wantFinish: &Finish{Phase: aiasv1alpha1.RunFailed, Reason: "Timeout", Message: "workflow timeout of 1m0s exceeded"},
	}, {
		name: "before the Run's deadline the pass wakes at it",
		in: func() Input {
			in := input([]aiasv1alpha1.WorkflowStep{step("a")}, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepRunning, 1)}, running("a", 1))
			in.Spec.Timeout = &metav1.Duration{Duration: 90 * time.Second}
			return in
		}(),
		wantPhases: "a=Running",
		wantWake:   30 * time.Second,
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := copySteps(tc.in.Status.Steps)
			d := Decide(tc.in)
			if got := phases(d.Steps); got != tc.wantPhases {
				t.Errorf("phases = %s, want %s", got, tc.wantPhases)
			}
			if !reflect.DeepEqual(d.Starts, tc.wantStarts) {
				t.Errorf("starts = %+v, want %+v", d.Starts, tc.wantStarts)
			}
			if !reflect.DeepEqual(d.Finish, tc.wantFinish) {
				t.Errorf("finish = %+v, want %+v", d.Finish, tc.wantFinish)
			}
			if d.RequeueAfter != tc.wantWake {
				t.Errorf("requeue after %s, want %s", d.RequeueAfter, tc.wantWake)
			}
			if !reflect.DeepEqual(before, tc.in.Status.Steps) {
				t.Errorf("Decide changed its input")
			}
			if tc.check != nil {
				tc.check(t, d)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	d := func(v time.Duration) *metav1.Duration { return &metav1.Duration{Duration: v} }
	three := int32(3)
	cases := []struct {
		b    *aiasv1alpha1.RetryBackoff
		n    int32
		want time.Duration
	}{
		{nil, 1, 10 * time.Second},
		{nil, 2, 20 * time.Second},
		{nil, 10, 5 * time.Minute},
		{&aiasv1alpha1.RetryBackoff{Duration: d(time.Second), Factor: &three}, 3, 9 * time.Second},
		{&aiasv1alpha1.RetryBackoff{Duration: d(time.Second), Factor: &three, MaxDuration: d(5 * time.Second)}, 3, 5 * time.Second},
	}
	for _, tc := range cases {
		if got := Backoff(tc.b, tc.n); got != tc.want {
			t.Errorf("Backoff(%+v, %d) = %s, want %s", tc.b, tc.n, got, tc.want)
		}
	}
}

func TestFailureOf(t *testing.T) {
	s := &aiasv1alpha1.WorkflowStep{Name: "a"}
	cases := []struct {
		end      End
		wantCode *int32
		wantMsg  string
	}{
		{End{Reason: batchv1.JobReasonBackoffLimitExceeded, ExitCode: ptrInt32(1), Report: &Report{ExitCode: 2, Message: "reported"}}, ptrInt32(2), "reported"},
		{End{Reason: batchv1.JobReasonBackoffLimitExceeded, ExitCode: ptrInt32(143)}, ptrInt32(143), "the step's container was terminated by signal 15 (exit code 143)"},
		{End{Reason: batchv1.JobReasonBackoffLimitExceeded, ExitCode: ptrInt32(2)}, ptrInt32(2), "the step's container exited with code 2"},
		{End{Reason: aiasv1alpha1.StepJobReasonPodRefused, Message: "the step's Pod was refused: no"}, nil, "the step's Pod was refused: no"},
		{End{}, nil, "the step's Job failed"},
		{End{Reason: aiasv1alpha1.StepJobReasonOOMKilled, ExitCode: ptrInt32(137)}, ptrInt32(137), "killed: out of memory (limit the namespace's default)"},
	}
	for _, tc := range cases {
		code, msg := FailureOf(s, tc.end)
		if !reflect.DeepEqual(code, tc.wantCode) || msg != tc.wantMsg {
			t.Errorf("FailureOf(%+v) = %v, %q; want %v, %q", tc.end, code, msg, tc.wantCode, tc.wantMsg)
		}
	}
	// step-run reported its command killed by a signal; the kubelet's OOMKilled says why.
	limited := &aiasv1alpha1.WorkflowStep{Name: "a", Resources: &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi")}}}
	if code, msg := FailureOf(limited, End{Reason: aiasv1alpha1.StepJobReasonOOMKilled, Report: &Report{ExitCode: 137, Message: "command terminated by signal killed"}}); msg != "killed: out of memory (limit 48Mi)" || *code != 137 {
		t.Errorf("OOM with a report: %v, %q", *code, msg)
	}
}

func TestCancel(t *testing.T) {
	if f := Ending(Finish{Phase: aiasv1alpha1.RunSucceeded, Reason: "Succeeded"}, true, ""); f != (Finish{Phase: aiasv1alpha1.RunCanceled, Reason: "Canceled", Message: "canceled by spec.cancel"}) {
		t.Errorf("cancel does not win: %+v", f)
	}
	if f := Ending(Finish{Phase: aiasv1alpha1.RunFailed}, true, "newer"); f.Reason != "Superseded" || f.Message != "superseded by run newer" || f.Phase != aiasv1alpha1.RunCanceled {
		t.Errorf("superseded = %+v", f)
	}
	if f := Ending(Finish{Phase: aiasv1alpha1.RunFailed, Reason: "Timeout"}, false, ""); f.Reason != "Timeout" {
		t.Errorf("no cancel changed the end: %+v", f)
	}
	steps := []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), {Name: "b", Phase: aiasv1alpha1.StepRetrying, NextAttemptTime: mtime(t0)}, st("c", aiasv1alpha1.StepPending, 0)}
	EndSteps(steps, aiasv1alpha1.StepCanceled, "run canceled")
	if got := phases(steps); got != "a=Succeeded b=Canceled c=Skipped" || steps[1].NextAttemptTime != nil || steps[2].Message != "not run: run canceled" {
		t.Errorf("EndSteps = %s %+v", got, steps)
	}
	if Summary(steps) != "1/3" {
		t.Errorf("summary = %s", Summary(steps))
	}
}
