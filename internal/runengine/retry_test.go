package runengine

import (
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// retryOn is a step with retries.limit 2 (1s backoff) and retries.retryOn as given.
func retryOn(on *aiasv1alpha1.RetryOn) aiasv1alpha1.WorkflowStep {
	s := withRetries(step("a", []string{}...), 2, time.Second)
	s.Retries.RetryOn = on
	return s
}

func code(c int32) *int32 { return &c }

// TestRetryPolicy: what retries.retryOn selects, and infrastructure failures retried without
// spending retries.limit, up to infrastructureLimit.
func TestRetryPolicy(t *testing.T) {
	at := t0.Add(30 * time.Second)
	exit := func(c int32) End {
		return End{Reason: batchv1.JobReasonBackoffLimitExceeded, ExitCode: code(c), Report: &Report{ExitCode: c, Message: "exit " + string(rune('0'+c))}}
	}
	oom := End{Reason: aiasv1alpha1.StepJobReasonOOMKilled, ExitCode: code(137)}
	evicted := End{Reason: aiasv1alpha1.StepJobReasonEvicted, Message: "the step's Pod was evicted: The node was low on resource: memory."}
	noRetries := step("a", []string{}...)
	noRetries.DependsOn = []string{}
	infraOnce := noRetries
	infraOnce.Retries = &aiasv1alpha1.RetryPolicy{Limit: 0, InfrastructureLimit: func() *int32 { v := int32(1); return &v }()}
	cases := []struct {
		name      string
		step      aiasv1alpha1.WorkflowStep
		status    aiasv1alpha1.StepStatus
		end       End
		wantPhase aiasv1alpha1.StepPhase
		wantInfra int32
		wantMsg   string // a substring of the step's message
	}{
		{"no on: any failure retried", retryOn(nil), st("a", aiasv1alpha1.StepRunning, 1), exit(1), aiasv1alpha1.StepRetrying, 0, ""},
		{"exit code selected", retryOn(&aiasv1alpha1.RetryOn{ExitCodes: []int32{75}}), st("a", aiasv1alpha1.StepRunning, 1), exit(75), aiasv1alpha1.StepRetrying, 0, ""},
		{"exit code not selected", retryOn(&aiasv1alpha1.RetryOn{ExitCodes: []int32{75}}), st("a", aiasv1alpha1.StepRunning, 1), exit(1),
			aiasv1alpha1.StepFailed, 0, "not retried: retries.retryOn does not select exit code 1"},
		{"OOMKilled selected", retryOn(&aiasv1alpha1.RetryOn{Reasons: []aiasv1alpha1.RetryReason{aiasv1alpha1.RetryOnOOMKilled}}), st("a", aiasv1alpha1.StepRunning, 1), oom, aiasv1alpha1.StepRetrying, 0, ""},
		{"Error does not select OOMKilled", retryOn(&aiasv1alpha1.RetryOn{Reasons: []aiasv1alpha1.RetryReason{aiasv1alpha1.RetryOnError}}), st("a", aiasv1alpha1.StepRunning, 1), oom,
			aiasv1alpha1.StepFailed, 0, "does not select OOMKilled"},
		{"expression selects", retryOn(&aiasv1alpha1.RetryOn{Expression: `attempt.exitCode == 3 && attempt.number < 2`}), st("a", aiasv1alpha1.StepRunning, 1), exit(3), aiasv1alpha1.StepRetrying, 0, ""},
		{"expression on the message", retryOn(&aiasv1alpha1.RetryOn{Expression: `attempt.message.contains("low on resource")`}), st("a", aiasv1alpha1.StepRunning, 1),
			End{Reason: aiasv1alpha1.StepJobReasonEvicted, Message: evicted.Message}, aiasv1alpha1.StepRetrying, 1, ""},
		{"expression error is not a retry", retryOn(&aiasv1alpha1.RetryOn{Expression: `attempt.nope == 1`}), st("a", aiasv1alpha1.StepRunning, 1), exit(3),
			aiasv1alpha1.StepFailed, 0, "not retried: retries.retryOn.expression"},
		{"limit spent", retryOn(nil), st("a", aiasv1alpha1.StepRunning, 3), exit(1), aiasv1alpha1.StepFailed, 0, ""},
		{"evicted without retries: retried as infrastructure", noRetries, st("a", aiasv1alpha1.StepRunning, 1), evicted, aiasv1alpha1.StepRetrying, 1, ""},
		{"infrastructure retries do not spend the limit", retryOn(nil), func() aiasv1alpha1.StepStatus {
			s := st("a", aiasv1alpha1.StepRunning, 4)
			s.InfrastructureRetries = 2 // of 4 attempts 2 were lost to the cluster: this failure is the 2nd counted of limit 2
			return s
		}(), exit(1), aiasv1alpha1.StepRetrying, 2, ""},
		{"past infrastructureLimit an infrastructure failure is any failure", infraOnce, func() aiasv1alpha1.StepStatus {
			s := st("a", aiasv1alpha1.StepRunning, 2)
			s.InfrastructureRetries = 1
			return s
		}(), evicted, aiasv1alpha1.StepFailed, 1, "evicted"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(input([]aiasv1alpha1.WorkflowStep{tc.step}, []aiasv1alpha1.StepStatus{tc.status}, failed("a", tc.status.Attempts, at, tc.end)))
			got := d.Steps[0]
			if got.Phase != tc.wantPhase || got.InfrastructureRetries != tc.wantInfra || !strings.Contains(got.Message, tc.wantMsg) {
				t.Fatalf("phase %s, infrastructure retries %d, message %q; want %s, %d, containing %q", got.Phase, got.InfrastructureRetries, got.Message, tc.wantPhase, tc.wantInfra, tc.wantMsg)
			}
			if tc.wantInfra > tc.status.InfrastructureRetries {
				if next := got.NextAttemptTime; next == nil || !next.Time.Equal(at.Add(InfrastructureRetryDelay)) {
					t.Errorf("an infrastructure retry waits %s, next attempt at %v", InfrastructureRetryDelay, next)
				}
				if len(d.Events) != 1 || !strings.Contains(d.Events[0].Message, "not counted against retries") {
					t.Errorf("events %+v; want one saying the retry is not counted", d.Events)
				}
			}
		})
	}
}

// TestFailureOfClusterReasons: the message the controller wrote for a reason the cluster
// gave wins over step-run's report of its command being killed.
func TestFailureOfClusterReasons(t *testing.T) {
	s := step("a")
	for _, reason := range []string{aiasv1alpha1.StepJobReasonEvicted, aiasv1alpha1.StepJobReasonImagePull, aiasv1alpha1.StepJobReasonUnschedulable, aiasv1alpha1.StepJobReasonVolumeMount, aiasv1alpha1.StepJobReasonContainerConfig} {
		_, msg := FailureOf(&s, End{Reason: reason, Message: "what the cluster said", Report: &Report{ExitCode: 143, Message: "command terminated by signal terminated"}})
		if msg != "what the cluster said" {
			t.Errorf("%s: message %q", reason, msg)
		}
	}
}
