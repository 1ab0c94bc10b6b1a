package controllers

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
)

// Retry backoff defaults, as documented on RetryBackoff.
const (
	defaultBackoff    = 10 * time.Second
	defaultFactor     = 2
	defaultMaxBackoff = 5 * time.Minute
)

// stepJobs are a Run's Jobs by step attempt (from their labels, so a Job is found
// whatever naming rule made its name), and the highest attempt seen per step.
type stepJobs struct {
	byAttempt  map[stepAttempt]*batchv1.Job
	maxAttempt map[string]int32
}

type stepAttempt struct {
	step    string
	attempt int32
}

func (r *RunReconciler) listStepJobs(ctx context.Context, run *aiasv1alpha1.Run) (stepJobs, error) {
	var jobs batchv1.JobList
	if err := r.List(ctx, &jobs, client.InNamespace(run.Namespace), client.MatchingFields{IndexJobRunUID: string(run.UID)}); err != nil {
		return stepJobs{}, err
	}
	sj := stepJobs{byAttempt: map[stepAttempt]*batchv1.Job{}, maxAttempt: map[string]int32{}}
	for i := range jobs.Items {
		j := &jobs.Items[i]
		a, err := strconv.ParseInt(j.Labels[aiasv1alpha1.LabelAttempt], 10, 32)
		if err != nil {
			continue
		}
		step := j.Labels[aiasv1alpha1.LabelStep]
		sj.byAttempt[stepAttempt{step, int32(a)}] = j
		if int32(a) > sj.maxAttempt[step] {
			sj.maxAttempt[step] = int32(a)
		}
	}
	return sj, nil
}

// advance moves a running Run forward: it finishes attempts whose Jobs are done, retries
// failed ones after their backoff, starts steps whose dependencies all succeeded, and
// ends the Run when nothing is left to do. Steps are visited in spec order, and a step
// only depends on earlier ones, so one pass settles everything a pass can.
func (r *RunReconciler) advance(ctx context.Context, run *aiasv1alpha1.Run, spec *aiasv1alpha1.WorkflowSpec) (ctrl.Result, error) {
	p := &stepPass{r: r, run: run, spec: spec, now: r.Now()}
	if timedOut, err := p.enforceRunTimeout(ctx); timedOut || err != nil {
		return ctrl.Result{}, err
	}
	jobs, err := r.listStepJobs(ctx, run)
	if err != nil {
		return ctrl.Result{}, err
	}
	p.jobs = jobs
	p.tokenReady = anyAttemptStarted(run)
	for i := range spec.Steps {
		if res, err := p.visit(ctx, i); err != nil || !res.IsZero() {
			return res, err
		}
	}
	run.Status.StepsSummary = stepsSummary(run)
	if ended, err := r.endIfSettled(ctx, run); ended || err != nil {
		return ctrl.Result{}, err
	}
	return p.requeue(), nil
}

// stepPass is one pass of advance over a Run's steps.
type stepPass struct {
	r    *RunReconciler
	run  *aiasv1alpha1.Run
	spec *aiasv1alpha1.WorkflowSpec
	jobs stepJobs
	now  time.Time
	// wake is the soonest time something is due (a retry, the Run's deadline); zero: none.
	wake time.Time
	// tokenReady: the Run's token Secret exists (it is made before the first attempt).
	tokenReady bool
}

func (p *stepPass) wakeAt(t time.Time) {
	if p.wake.IsZero() || t.Before(p.wake) {
		p.wake = t
	}
}

// requeue comes back when the soonest thing is due, else waits for an event.
func (p *stepPass) requeue() ctrl.Result {
	if p.wake.IsZero() {
		return ctrl.Result{}
	}
	return ctrl.Result{RequeueAfter: max(p.wake.Sub(p.now), time.Millisecond)}
}

// enforceRunTimeout fails the Run once spec.timeout has passed since it started, and
// otherwise makes the pass wake at the deadline.
func (p *stepPass) enforceRunTimeout(ctx context.Context) (bool, error) {
	if p.spec.Timeout == nil || p.run.Status.StartTime == nil {
		return false, nil
	}
	deadline := p.run.Status.StartTime.Add(p.spec.Timeout.Duration)
	if p.now.Before(deadline) {
		p.wakeAt(deadline)
		return false, nil
	}
	msg := fmt.Sprintf("workflow timeout of %s exceeded", p.spec.Timeout.Duration)
	endSteps(p.run, aiasv1alpha1.StepFailed, msg)
	return true, p.r.finish(ctx, p.run, aiasv1alpha1.RunFailed, "Timeout", msg)
}

// anyAttemptStarted reports that some step has had an attempt, so the token Secret was
// made already (only a Run starting its first attempt needs it ensured; a deleted Secret
// fails steps visibly).
func anyAttemptStarted(run *aiasv1alpha1.Run) bool {
	for _, st := range run.Status.Steps {
		if st.Attempts > 0 {
			return true
		}
	}
	return false
}

// visit moves step i forward by what its phase allows. A non-zero result or an error
// ends the pass.
func (p *stepPass) visit(ctx context.Context, i int) (ctrl.Result, error) {
	step, st := &p.spec.Steps[i], &p.run.Status.Steps[i]
	if stepFinished(st.Phase) {
		return ctrl.Result{}, nil
	}
	p.adoptUnrecordedJob(step, st)
	switch st.Phase {
	case aiasv1alpha1.StepPending:
		blocker, ready := dependencyState(p.run, p.spec, i)
		if blocker != "" || failing(p.run) {
			st.Phase = aiasv1alpha1.StepSkipped
			st.Message = "not run: " + firstNonEmpty(blocker, "another step failed")
			return ctrl.Result{}, nil
		}
		if ready {
			return ctrl.Result{}, p.start(ctx, i, 1)
		}
	case aiasv1alpha1.StepRetrying:
		if next := st.NextAttemptTime; next != nil && p.now.Before(next.Time) {
			p.wakeAt(next.Time)
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, p.start(ctx, i, st.Attempts+1)
	case aiasv1alpha1.StepRunning:
		return p.observe(ctx, step, st)
	}
	return ctrl.Result{}, nil
}

// adoptUnrecordedJob takes over a Job the status does not know of yet (created just
// before a crash or a lost status write) rather than starting the attempt again.
func (p *stepPass) adoptUnrecordedJob(step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus) {
	n := p.jobs.maxAttempt[step.Name]
	if n <= st.Attempts {
		return
	}
	job := p.jobs.byAttempt[stepAttempt{step.Name, n}]
	st.Phase, st.Attempts, st.JobName, st.NextAttemptTime = aiasv1alpha1.StepRunning, n, job.Name, nil
	if st.StartTime == nil {
		st.StartTime = &job.CreationTimestamp
	}
}

// endIfSettled finishes the Run when every step succeeded, or when a step failed and
// nothing is running any more (steps not started are skipped).
func (r *RunReconciler) endIfSettled(ctx context.Context, run *aiasv1alpha1.Run) (bool, error) {
	switch {
	case allSucceeded(run):
		return true, r.finish(ctx, run, aiasv1alpha1.RunSucceeded, "Succeeded", fmt.Sprintf("all %d steps succeeded", len(run.Status.Steps)))
	case failing(run) && !active(run):
		for i := range run.Status.Steps {
			if st := &run.Status.Steps[i]; st.Phase == aiasv1alpha1.StepPending {
				st.Phase, st.Message = aiasv1alpha1.StepSkipped, "not run: another step failed"
			}
		}
		failed := firstFailed(run)
		return true, r.finish(ctx, run, aiasv1alpha1.RunFailed, "StepFailed", fmt.Sprintf("step %s failed: %s", failed.Name, failed.Message))
	}
	return false, nil
}

// observeJob reads a finished attempt's Job and the outcome step-run reported; exitCode
// is the step container's as the Pod tells it (nil when unknown), for a step-run that
// could not report (killed, or the node went away).
func (r *RunReconciler) observeJob(ctx context.Context, run *aiasv1alpha1.Run, step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus, job *batchv1.Job, exitCode *int32) error {
	done, succeeded, cond := jobResult(job)
	if !done {
		return nil
	}
	outcome, err := r.Store.StepAttemptOutcome(ctx, string(run.UID), st.Name, int(st.Attempts))
	reported := err == nil
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	finished := cond.LastTransitionTime.Time
	if job.Status.CompletionTime != nil {
		finished = job.Status.CompletionTime.Time
	}
	if started := job.Status.StartTime; started != nil {
		label, took := map[bool]string{true: "Succeeded", false: "Failed"}[succeeded], finished.Sub(started.Time).Seconds()
		r.count(run, func() { stepDuration.WithLabelValues(label).Observe(took) })
	}
	if succeeded {
		st.Phase, st.Message = aiasv1alpha1.StepSucceeded, ""
		st.ExitCode = ptrInt32(0)
		t := metav1.NewTime(finished)
		st.CompletionTime = &t
		res, err := r.Store.AttemptResult(ctx, string(run.UID), st.Name, int(st.Attempts))
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		st.OutputDigest = res.Digest
		// No event: success shows in status, and apiserver writes per Run are budgeted
		// (events for start, retry, failure and the Run's end tell the story).
		return r.refreshArtifacts(ctx, run)
	}
	code, msg := exitCode, cond.Message
	switch {
	case reported:
		code, msg = ptrInt32(int32(outcome.ExitCode)), outcome.Message
	case exitCode != nil && cond.Reason == batchv1.JobReasonBackoffLimitExceeded:
		msg = containerExitMessage(*exitCode)
	}
	if cond.Reason == batchv1.JobReasonDeadlineExceeded && step.Timeout != nil {
		msg = fmt.Sprintf("timed out after %s", step.Timeout.Duration)
	}
	r.attemptFailed(run, step, st, finished, code, firstNonEmpty(msg, "the step's Job failed"))
	return nil
}

// containerExitMessage explains the exit code of a step container whose step-run did not
// report (it was killed, or died with the container).
func containerExitMessage(code int32) string {
	switch {
	case code == 137:
		return "the step's container was killed (exit code 137)"
	case code > 128 && code < 128+65:
		return fmt.Sprintf("the step's container was terminated by signal %d (exit code %d)", code-128, code)
	}
	return fmt.Sprintf("the step's container exited with code %d", code)
}

// attemptFailed schedules the next attempt when the step has retries left, else fails it.
func (r *RunReconciler) attemptFailed(run *aiasv1alpha1.Run, step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus, at time.Time, code *int32, msg string) {
	st.ExitCode, st.Message = code, msg
	if step.Retries != nil && st.Attempts <= step.Retries.Limit {
		delay := backoff(step.Retries.Backoff, st.Attempts)
		next := metav1.NewTime(at.Add(delay))
		st.Phase, st.NextAttemptTime = aiasv1alpha1.StepRetrying, &next
		r.event(run, corev1.EventTypeNormal, "StepRetrying", "Step %s attempt %d failed (%s); attempt %d in %s", st.Name, st.Attempts, msg, st.Attempts+1, delay)
		return
	}
	t := metav1.NewTime(at)
	st.Phase, st.CompletionTime = aiasv1alpha1.StepFailed, &t
	r.event(run, corev1.EventTypeWarning, "StepFailed", "Step %s failed after %d attempt(s): %s", st.Name, st.Attempts, msg)
}

// backoff is the wait before the attempt after failed attempt n: duration × factor^(n-1),
// capped at maxDuration.
func backoff(b *aiasv1alpha1.RetryBackoff, n int32) time.Duration {
	base, factor, limit := defaultBackoff, float64(defaultFactor), defaultMaxBackoff
	if b != nil {
		if b.Duration != nil {
			base = b.Duration.Duration
		}
		if b.Factor != nil {
			factor = float64(*b.Factor)
		}
		if b.MaxDuration != nil {
			limit = b.MaxDuration.Duration
		}
	}
	d := float64(base) * math.Pow(factor, float64(n-1))
	if d > float64(limit) {
		return limit
	}
	return time.Duration(d)
}

// jobResult reads a Job's terminal condition.
func jobResult(job *batchv1.Job) (done, succeeded bool, cond batchv1.JobCondition) {
	for _, c := range job.Status.Conditions {
		if c.Status != corev1.ConditionTrue {
			continue
		}
		switch c.Type {
		case batchv1.JobComplete:
			return true, true, c
		case batchv1.JobFailed:
			return true, false, c
		}
	}
	return false, false, batchv1.JobCondition{}
}

// dependencyState says whether step i can start (ready) or never will (blocker names why).
func dependencyState(run *aiasv1alpha1.Run, spec *aiasv1alpha1.WorkflowSpec, i int) (blocker string, ready bool) {
	ready = true
	for _, dep := range spec.StepDependencies(i) {
		st := stepStatus(run, dep)
		switch {
		case st == nil:
			return fmt.Sprintf("dependency %s is unknown", dep), false
		case st.Phase == aiasv1alpha1.StepSucceeded:
		case stepFinished(st.Phase):
			return fmt.Sprintf("dependency %s %s", dep, lower(st.Phase)), false
		default:
			ready = false
		}
	}
	return "", ready
}

// endSteps stops every unfinished step: running ones take phase, pending ones are skipped.
func endSteps(run *aiasv1alpha1.Run, phase aiasv1alpha1.StepPhase, msg string) {
	for i := range run.Status.Steps {
		st := &run.Status.Steps[i]
		switch st.Phase {
		case aiasv1alpha1.StepRunning, aiasv1alpha1.StepRetrying:
			st.Phase, st.Message, st.NextAttemptTime = phase, msg, nil
		case aiasv1alpha1.StepPending, "":
			st.Phase, st.Message = aiasv1alpha1.StepSkipped, "not run: "+msg
		}
	}
	run.Status.StepsSummary = stepsSummary(run)
}

func stepFinished(p aiasv1alpha1.StepPhase) bool {
	switch p {
	case aiasv1alpha1.StepSucceeded, aiasv1alpha1.StepFailed, aiasv1alpha1.StepSkipped, aiasv1alpha1.StepCanceled:
		return true
	}
	return false
}

func stepStatus(run *aiasv1alpha1.Run, name string) *aiasv1alpha1.StepStatus {
	for i := range run.Status.Steps {
		if run.Status.Steps[i].Name == name {
			return &run.Status.Steps[i]
		}
	}
	return nil
}

func failing(run *aiasv1alpha1.Run) bool { return firstFailed(run) != nil }

func firstFailed(run *aiasv1alpha1.Run) *aiasv1alpha1.StepStatus {
	for i := range run.Status.Steps {
		if run.Status.Steps[i].Phase == aiasv1alpha1.StepFailed {
			return &run.Status.Steps[i]
		}
	}
	return nil
}

func active(run *aiasv1alpha1.Run) bool {
	for _, st := range run.Status.Steps {
		if st.Phase == aiasv1alpha1.StepRunning || st.Phase == aiasv1alpha1.StepRetrying {
			return true
		}
	}
	return false
}

func allSucceeded(run *aiasv1alpha1.Run) bool {
	for _, st := range run.Status.Steps {
		if st.Phase != aiasv1alpha1.StepSucceeded {
			return false
		}
	}
	return len(run.Status.Steps) > 0
}

// stepsSummary is the printer column: succeeded/total.
func stepsSummary(run *aiasv1alpha1.Run) string {
	n := 0
	for _, st := range run.Status.Steps {
		if st.Phase == aiasv1alpha1.StepSucceeded {
			n++
		}
	}
	return fmt.Sprintf("%d/%d", n, len(run.Status.Steps))
}

func ptrInt32(v int32) *int32 { return &v }

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func lower(p aiasv1alpha1.StepPhase) string {
	switch p {
	case aiasv1alpha1.StepFailed:
		return "failed"
	case aiasv1alpha1.StepSkipped:
		return "was skipped"
	case aiasv1alpha1.StepCanceled:
		return "was canceled"
	}
	return string(p)
}
