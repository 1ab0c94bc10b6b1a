package runengine

import (
	"context"
	"fmt"
	"slices"
	"time"

	batchv1 "k8s.io/api/batch/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

// InfrastructureRetryDelay is the wait before an attempt the cluster lost is tried again:
// short (nothing the step did needs time to pass) but not zero, so that a node that is
// going away is not handed the next Pod in the same second.
const InfrastructureRetryDelay = 2 * time.Second

// retryPlan is what becomes of a failed attempt.
type retryPlan struct {
	retry bool
	// infrastructure: the cluster lost the attempt; the retry does not spend retries.limit.
	infrastructure bool
	delay          time.Duration
	// note says why a failure is not retried although retries are left (retries.retryOn).
	note string
}

// planRetry decides whether a failed attempt (the attempts-th of its step or item, of
// which infra were retried as infrastructure failures) is tried again. An infrastructure
// failure is retried at once up to retries.infrastructureLimit (default 3, also without a
// retries block); every other failure, and one past that limit, spends retries.limit and
// is retried when retries.retryOn selects it (unset: any failure).
func planRetry(step *aiasv1alpha1.WorkflowStep, attempts, infra int32, a Attempt, code *int32, msg string) retryPlan {
	end := *a.End
	if aiasv1alpha1.InfrastructureFailure(end.Reason) && infra < infrastructureLimit(step) {
		return retryPlan{retry: true, infrastructure: true, delay: InfrastructureRetryDelay}
	}
	r := step.Retries
	counted := attempts - infra
	if r == nil || counted > r.Limit {
		return retryPlan{}
	}
	if r.RetryOn != nil {
		ok, why := retrySelected(r.RetryOn, a, code, msg)
		if !ok {
			return retryPlan{note: why}
		}
	}
	return retryPlan{retry: true, delay: Backoff(r.Backoff, counted)}
}

func infrastructureLimit(step *aiasv1alpha1.WorkflowStep) int32 {
	if r := step.Retries; r != nil && r.InfrastructureLimit != nil {
		return *r.InfrastructureLimit
	}
	return aiasv1alpha1.DefaultInfrastructureRetries
}

// FailureReason is the kind of a failed attempt as retries.retryOn names it: OOMKilled,
// Timeout, Infrastructure, or Error (the command failed); "" for what is none of these
// (an image that cannot be pulled, a Pod refused, a missing Secret key).
func FailureReason(end End, code *int32) aiasv1alpha1.RetryReason {
	switch {
	case end.Reason == aiasv1alpha1.StepJobReasonOOMKilled:
		return aiasv1alpha1.RetryOnOOMKilled
	case end.Reason == batchv1.JobReasonDeadlineExceeded:
		return aiasv1alpha1.RetryOnTimeout
	case aiasv1alpha1.InfrastructureFailure(end.Reason):
		return aiasv1alpha1.RetryOnInfrastructure
	case code != nil && *code != 0:
		return aiasv1alpha1.RetryOnError
	}
	return ""
}

// retrySelected reports whether retries.retryOn selects the failed attempt a; when it does
// not, why (for the step's message).
func retrySelected(on *aiasv1alpha1.RetryOn, a Attempt, code *int32, msg string) (bool, string) {
	reason := FailureReason(*a.End, code)
	if code != nil && slices.Contains(on.ExitCodes, *code) {
		return true, ""
	}
	if reason != "" && slices.Contains(on.Reasons, reason) {
		return true, ""
	}
	if on.Expression != "" {
		vars := workflowexpr.AttemptVars{Number: int64(a.Number), ExitCode: -1, Reason: a.End.Reason, Message: msg}
		if code != nil {
			vars.ExitCode = int64(*code)
		}
		if vars.Reason == "" || vars.Reason == batchv1.JobReasonBackoffLimitExceeded {
			vars.Reason = string(reason)
		}
		if !a.CreatedAt.IsZero() && a.End.FinishedAt.After(a.CreatedAt) {
			vars.DurationSeconds = a.End.FinishedAt.Sub(a.CreatedAt).Seconds()
		}
		prg, err := workflowexpr.CompileRetryOn(on.Expression)
		if err != nil {
			return false, "not retried: " + err.Error()
		}
		ok, err := prg.Eval(context.Background(), vars)
		if err != nil {
			return false, "not retried: " + err.Error()
		}
		if ok {
			return true, ""
		}
	}
	return false, "not retried: retries.retryOn does not select " + describeFailure(reason, code)
}

func describeFailure(reason aiasv1alpha1.RetryReason, code *int32) string {
	switch {
	case code != nil && reason == aiasv1alpha1.RetryOnError:
		return fmt.Sprintf("exit code %d", *code)
	case reason != "":
		return string(reason)
	}
	return "this failure"
}
