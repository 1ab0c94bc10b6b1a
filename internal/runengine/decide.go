package runengine

import (
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

// Input is everything a decision about a running Run depends on.
type Input struct {
	// Spec is the Workflow spec the Run froze when it started.
	Spec *aiasv1alpha1.WorkflowSpec
	// Status is the Run's status as read; Decide does not change it.
	Status *aiasv1alpha1.RunStatus
	// Attempts is, by step name, the attempt to act on: the one the step's status
	// records, or a newer one whose Job the status does not know of yet. A step whose
	// status says Running must have one.
	Attempts map[string]Attempt
	// Now is the time of the decision.
	Now time.Time
	// Values are what the steps' when expressions and $(steps...) references read.
	Values Values
	// MainSteps is how many of Spec.Steps are the Workflow's steps; the rest are its
	// finally steps (WorkflowSpec.RunSteps). 0: all of them.
	MainSteps int
	// ItemsPerStep is the plan's itemsPerStep; 0: none set (aiasv1alpha1.MaxItemsPerStep
	// applies); negative: the plan allows no items.
	ItemsPerStep int
	// Cache is what the step cache held for steps that asked (Decision.NeedCache), by
	// step name.
	Cache map[string]CacheLookup
	// Children are the child Runs of workflowRef steps as the caller saw them, by step.
	Children map[string]ChildState
	// Depth is how deep this Run nests (0: no parent); at MaxWorkflowDepth a workflowRef
	// step fails instead of starting a child.
	Depth int
	// Resume: the Run resumes another (spec.resumeOf); every step asks, before it
	// starts, whether it Succeeded there (Decision.NeedCache), and takes its outputs if so.
	Resume bool
	// Approvals are the decisions recorded on the Run's approval gates, by step name.
	Approvals map[string]aiasv1alpha1.ApprovalStatus
	// Aggregated are the result arrays the caller wrote for forEach steps whose items
	// all ended (Decision.Aggregate), by step name.
	Aggregated map[string]ResultArray
}

// ResultArray is how writing a forEach step's result array went.
type ResultArray struct {
	// Digest of the stored array.
	Digest string
	// Note says what the step's message should (items left out of the array).
	Note string
	// Error, when set, fails the step: the array could not be stored (a plan cap).
	Error string
}

// main is the number of main steps; steps from there on are finally steps.
func (in Input) main() int {
	if in.MainSteps <= 0 || in.MainSteps > len(in.Spec.Steps) {
		return len(in.Spec.Steps)
	}
	return in.MainSteps
}

// Decision is what Decide wants done. The caller writes Steps into the Run's status,
// carries out Starts in order, sends Events with the status write, and ends the Run
// with Finish when it is set.
type Decision struct {
	// Steps is the new status of every step. A step in Starts is already marked as
	// running its new attempt (the caller fills in the Job's name once it is created,
	// and puts the step back as it was when the create fails).
	Steps []aiasv1alpha1.StepStatus
	// Starts are the attempts to create, in spec order.
	Starts []Start
	// Events tell users what happened to the steps (kubectl describe run).
	Events []Event
	// Finish, when set, is how the Run ends now.
	Finish *Finish
	// RequeueAfter is when to decide again without an event (a retry or the Run's
	// deadline is due); 0: when something happens.
	RequeueAfter time.Duration
	// RefreshArtifacts: a step succeeded, the Run's artifact list may have grown.
	RefreshArtifacts bool
	// NeedResults are steps whose results a step about to start reads and
	// Input.Values has not looked up: the caller loads them into Values.Results (and
	// Values.Loaded) and decides again. Steps that need them wait for that.
	NeedResults []string
	// StartChildren are workflowRef steps (by index) whose child Runs the caller creates
	// (the engine marked them Running).
	StartChildren []int
	// NeedCache are steps (by index) about to start whose cache the caller looks up
	// (and, on a hit, takes) before it decides again with Input.Cache.
	NeedCache []int
	// Stop, when set, stops the Run before its finally steps (its timeout passed): the
	// caller records it in status.stopping and stops the Jobs of the steps still
	// running before it creates Starts (finally steps).
	Stop *aiasv1alpha1.RunStop
	// Aggregate are the forEach steps (by index) whose items all ended: the caller
	// writes each one's result array (its items' results in item order) as the step's
	// result, records its digest in Input.Aggregated and decides again.
	Aggregate []int
}

// Start is an attempt to create.
type Start struct {
	// Index is the step's index in the spec and in the status.
	Index int
	// Item is the item's index for an item of a forEach step, else -1.
	Item int
	// Step is the name the attempt goes by: the step's, or for an item
	// aiasv1alpha1.ItemStepName(step, item).
	Step    string
	Attempt int32
}

// Event is a Kubernetes event to record on the Run.
type Event struct {
	// Type is corev1.EventTypeNormal or corev1.EventTypeWarning.
	Type, Reason, Message string
}

// Finish is the end of a Run: its phase and the reason and message of its Ready
// condition.
type Finish struct {
	Phase           aiasv1alpha1.RunPhase
	Reason, Message string
}

// Decide moves a running Run forward: it enforces the Run's timeout, takes over
// attempts the status does not know of yet, records attempts that ended, retries failed
// ones after their backoff, starts steps whose dependencies all succeeded, skips steps
// that never will run, and ends the Run when nothing is left to do. Steps are visited in
// spec order, and a step only depends on earlier ones, so one pass settles everything a
// pass can.
func Decide(in Input) Decision {
	p := pass{in: in, steps: copySteps(in.Status.Steps)}
	if p.runTimedOut() {
		return p.d
	}
	stop := p.stopping()
	p.finallyTimedOut(stop)
	for i := range in.Spec.Steps {
		if stop := p.visit(i); stop {
			p.d.Steps = p.steps
			return p.d
		}
	}
	// Once a step failed and none runs, the steps that were waiting are skipped; the
	// finally steps may then start in this same pass.
	main := in.main()
	if skipAfterFailure(p.steps[:main], "another step failed") && main < len(p.steps) {
		for i := main; i < len(in.Spec.Steps); i++ {
			if stop := p.visit(i); stop {
				p.d.Steps = p.steps
				return p.d
			}
		}
	}
	p.d.Steps = p.steps
	if f := settle(p.steps, main); f != nil {
		p.d.Finish = stoppedFinish(f, stop)
		return p.d
	}
	if !p.wake.IsZero() {
		p.d.RequeueAfter = max(p.wake.Sub(in.Now), time.Millisecond)
	}
	return p.d
}

// pass is one run of Decide.
type pass struct {
	in    Input
	steps []aiasv1alpha1.StepStatus
	d     Decision
	// wake is the soonest time something is due (a retry, the Run's deadline); zero: none.
	wake time.Time
}

func (p *pass) wakeAt(t time.Time) {
	if p.wake.IsZero() || t.Before(p.wake) {
		p.wake = t
	}
}

// RunDeadline is when the Run times out: spec.timeout after it started. ok is false
// when it has no timeout or has not started.
func RunDeadline(spec *aiasv1alpha1.WorkflowSpec, status *aiasv1alpha1.RunStatus) (deadline time.Time, ok bool) {
	if spec.Timeout == nil || status.StartTime == nil {
		return time.Time{}, false
	}
	return status.StartTime.Add(spec.Timeout.Duration), true
}

// TimedOut reports that the Run's deadline has passed: nothing about its attempts
// matters any more, they need not be observed.
func TimedOut(in Input) bool {
	deadline, ok := RunDeadline(in.Spec, in.Status)
	return ok && !in.Now.Before(deadline) && in.main() == len(in.Spec.Steps)
}

// runTimedOut fails the Run once its deadline has passed, and otherwise makes the pass
// wake at the deadline. A Run with finally steps is stopped instead (Decision.Stop):
// its steps fail and its finally steps run. Once its steps have all ended, the
// deadline no longer applies: finallyTimeout bounds the finally steps.
func (p *pass) runTimedOut() bool {
	deadline, ok := RunDeadline(p.in.Spec, p.in.Status)
	if !ok || p.in.Status.Stopping != nil || p.hasFinally() && allFinished(p.steps[:p.in.main()]) {
		return false
	}
	if p.in.Now.Before(deadline) {
		p.wakeAt(deadline)
		return false
	}
	msg := fmt.Sprintf("workflow timeout of %s exceeded", p.in.Spec.Timeout.Duration)
	if p.hasFinally() {
		p.d.Stop = &aiasv1alpha1.RunStop{Reason: aiasv1alpha1.RunReasonTimeout, Message: msg, Time: metav1.NewTime(p.in.Now)}
		return false
	}
	EndSteps(p.steps, aiasv1alpha1.StepFailed, msg)
	p.d.Steps = p.steps
	p.d.Finish = &Finish{Phase: aiasv1alpha1.RunFailed, Reason: aiasv1alpha1.RunReasonTimeout, Message: msg}
	return true
}

func (p *pass) hasFinally() bool { return p.in.main() < len(p.in.Spec.Steps) }

// stopping is the Run's stop, recorded or decided in this pass: its steps are ended
// (running ones canceled, or failed by the timeout; pending ones skipped), which lets
// its finally steps start.
func (p *pass) stopping() *aiasv1alpha1.RunStop {
	stop := p.in.Status.Stopping
	if p.d.Stop != nil {
		stop = p.d.Stop
	}
	if stop == nil {
		return nil
	}
	phase := aiasv1alpha1.StepCanceled
	if stop.Reason == aiasv1alpha1.RunReasonTimeout {
		phase = aiasv1alpha1.StepFailed
	}
	EndSteps(p.steps[:p.in.main()], phase, stop.Message)
	return stop
}

// DefaultFinallyTimeout bounds finally steps when the Workflow sets no finallyTimeout.
const DefaultFinallyTimeout = 10 * time.Minute

// finallyTimedOut fails the finally steps still running or waiting once finallyTimeout
// has passed since they could start, and otherwise makes the pass wake then.
func (p *pass) finallyTimedOut(stop *aiasv1alpha1.RunStop) {
	main := p.in.main()
	if !p.hasFinally() || !allFinished(p.steps[:main]) || allFinished(p.steps[main:]) {
		return
	}
	limit := DefaultFinallyTimeout
	if t := p.in.Spec.FinallyTimeout; t != nil {
		limit = t.Duration
	}
	deadline := finallyStart(p.in.Status, p.steps[:main], stop).Add(limit)
	if p.in.Now.Before(deadline) {
		p.wakeAt(deadline)
		return
	}
	EndSteps(p.steps[main:], aiasv1alpha1.StepFailed, fmt.Sprintf("finallyTimeout of %s exceeded", limit))
}

// finallyStart is when the finally steps could start: when the Run was stopped, else
// when its last step ended (its start when no step ran).
func finallyStart(status *aiasv1alpha1.RunStatus, main []aiasv1alpha1.StepStatus, stop *aiasv1alpha1.RunStop) time.Time {
	if stop != nil {
		return stop.Time.Time
	}
	var last time.Time
	if status.StartTime != nil {
		last = status.StartTime.Time
	}
	for _, st := range main {
		if st.CompletionTime != nil && st.CompletionTime.After(last) {
			last = st.CompletionTime.Time
		}
	}
	return last
}

// stoppedFinish is how a stopped Run ends once its finally steps have: as its stop
// says, with a finally step's failure after the stop's reason.
func stoppedFinish(f *Finish, stop *aiasv1alpha1.RunStop) *Finish {
	if stop == nil {
		return f
	}
	out := &Finish{Phase: aiasv1alpha1.RunCanceled, Reason: stop.Reason, Message: stop.Message}
	if stop.Reason == aiasv1alpha1.RunReasonTimeout {
		out.Phase = aiasv1alpha1.RunFailed
	}
	if i := strings.Index(f.Message, "finally step "); i >= 0 && f.Phase == aiasv1alpha1.RunFailed {
		out.Message += "; " + f.Message[i:]
	}
	return out
}

// visit moves step i forward by what its phase allows; stop ends the pass.
func (p *pass) visit(i int) (stop bool) {
	step, st := &p.in.Spec.Steps[i], &p.steps[i]
	if StepFinished(st.Phase) {
		return false
	}
	a, seen := p.in.Attempts[step.Name]
	if seen && a.Number > st.Attempts {
		adopt(st, a)
	}
	if step.ForEach != "" && st.Phase == aiasv1alpha1.StepRunning {
		return p.visitItems(i, step, st)
	}
	if step.WorkflowRef != nil && st.Phase == aiasv1alpha1.StepRunning {
		p.followChild(step, st)
		return false
	}
	switch st.Phase {
	case aiasv1alpha1.StepPending:
		// A step waits for its own group to go on: main steps stop at the first failure
		// among them, finally steps wait until every main step has ended and stop at the
		// first failure among themselves.
		group, failedMsg := p.steps[:p.in.main()], "another step failed"
		if i >= p.in.main() {
			if !allFinished(group) {
				return false
			}
			group, failedMsg = p.steps[p.in.main():], "another finally step failed"
		}
		blocker, ready := dependencyState(p.steps, p.in.Spec, i)
		if blocker != "" || firstFailed(group) != nil {
			st.Phase = aiasv1alpha1.StepSkipped
			st.Message = "not run: " + firstNonEmpty(blocker, failedMsg)
			return false
		}
		if !ready {
			return false
		}
		if need := p.resultsNeeded(step); len(need) > 0 {
			p.d.NeedResults = append(p.d.NeedResults, need...)
			return false
		}
		switch skip, fail := p.gate(i, step); {
		case fail != "":
			p.failUnstarted(st, fail)
		case skip != "":
			st.Phase, st.Message = aiasv1alpha1.StepSkipped, skip
		case p.cacheDecided(i, step, st):
		case step.ForEach != "":
			return p.fanOut(i, step, st)
		case step.Approval != nil:
			p.openGate(i, step, st)
		case step.WorkflowRef != nil:
			p.startChild(i, st)
		default:
			p.start(i, 1)
		}
	case aiasv1alpha1.StepWaiting:
		p.gateWaits(step, st)
	case aiasv1alpha1.StepRetrying:
		if next := st.NextAttemptTime; next != nil && p.in.Now.Before(next.Time) {
			p.wakeAt(next.Time)
			return false
		}
		p.start(i, st.Attempts+1)
	case aiasv1alpha1.StepRunning:
		if !seen || a.Number != st.Attempts {
			return false // nothing seen of it: its Job's events will come
		}
		return p.observe(step, st, a)
	}
	return false
}

// adopt takes over an attempt the status does not know of yet (its Job was created just
// before a crash or a lost status write) rather than starting it again.
func adopt(st *aiasv1alpha1.StepStatus, a Attempt) {
	st.Phase, st.Attempts, st.JobName, st.NextAttemptTime = aiasv1alpha1.StepRunning, a.Number, a.JobName, nil
	if st.StartTime == nil {
		t := metav1.NewTime(a.CreatedAt)
		st.StartTime = &t
	}
}

// start marks step i as running attempt n and asks for its creation.
func (p *pass) start(i int, n int32) {
	st := &p.steps[i]
	st.Phase, st.Attempts = aiasv1alpha1.StepRunning, n
	st.NextAttemptTime, st.ExitCode, st.Message = nil, nil, ""
	if st.StartTime == nil {
		t := metav1.NewTime(p.in.Now)
		st.StartTime = &t
	}
	p.d.Starts = append(p.d.Starts, Start{Index: i, Item: -1, Step: st.Name, Attempt: n})
}

// observe records what became of a running attempt.
func (p *pass) observe(step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus, a Attempt) (stop bool) {
	switch a.State {
	case Unsettled:
		p.d.RequeueAfter = a.Retry
		return true
	case Active:
		st.Message = a.Waiting // "" once the Pod waits for nothing
		if !a.Deadline.IsZero() {
			p.wakeAt(a.Deadline)
		}
		return false // its end (or a change of what it waits for) wakes the Run
	}
	end := a.End
	if end.Succeeded {
		st.Phase, st.Message = aiasv1alpha1.StepSucceeded, ""
		st.ExitCode = ptrInt32(0)
		t := metav1.NewTime(end.FinishedAt)
		st.CompletionTime = &t
		st.OutputDigest = end.OutputDigest
		// No event: success shows in status, and apiserver writes per Run are budgeted
		// (events for start, retry, failure and the Run's end tell the story).
		p.d.RefreshArtifacts = true
		return false
	}
	code, msg := FailureOf(step, *end)
	p.attemptFailed(step, st, a, code, msg)
	return false
}

// FailureOf is the exit code and message a failed attempt is recorded with: what
// step-run reported, else what the step container's exit code tells, else the Job's
// condition; a step timeout is told as such.
func FailureOf(step *aiasv1alpha1.WorkflowStep, end End) (*int32, string) {
	code, msg := end.ExitCode, end.Message
	switch {
	case end.Report != nil:
		code, msg = ptrInt32(end.Report.ExitCode), end.Report.Message
	case end.ExitCode != nil && end.Reason == batchv1.JobReasonBackoffLimitExceeded:
		msg = ContainerExitMessage(*end.ExitCode)
	}
	switch {
	case end.Reason == batchv1.JobReasonDeadlineExceeded && step.Timeout != nil:
		msg = fmt.Sprintf("timed out after %s", step.Timeout.Duration)
	case end.Reason == aiasv1alpha1.StepJobReasonOOMKilled:
		// step-run may have reported its command killed by a signal; the kubelet knows why.
		msg = "killed: out of memory (limit " + memoryLimit(step) + ")"
	case controllerWritten(end.Reason) && end.Message != "":
		// The cluster ended the attempt (evicted, image, node, ...): step-run, if it
		// reported at all, saw only its command killed.
		msg = end.Message
	}
	return code, firstNonEmpty(msg, "the step's Job failed")
}

// controllerWritten reports a Job reason whose message the Run controller wrote from
// what the Pod, kubelet or scheduler said.
func controllerWritten(reason string) bool {
	switch reason {
	case aiasv1alpha1.StepJobReasonImagePull, aiasv1alpha1.StepJobReasonContainerConfig, aiasv1alpha1.StepJobReasonUnschedulable,
		aiasv1alpha1.StepJobReasonVolumeMount:
		return true
	}
	return aiasv1alpha1.InfrastructureFailure(reason)
}

// memoryLimit is the step container's memory limit as written, or what applies without one.
func memoryLimit(step *aiasv1alpha1.WorkflowStep) string {
	if step.Resources != nil {
		if q, ok := step.Resources.Limits[corev1.ResourceMemory]; ok {
			return q.String()
		}
	}
	return "the namespace's default"
}

// ReasonJobDeleted is the End.Reason of an attempt whose Job was deleted before it
// ended (such a Job has no condition to read one from).
const ReasonJobDeleted = "JobDeleted"

// ContainerExitMessage explains the exit code of a step container whose step-run did not
// report (it was killed, or died with the container).
func ContainerExitMessage(code int32) string {
	switch {
	case code == 137:
		return "the step's container was killed (exit code 137)"
	case code > 128 && code < 128+65:
		return fmt.Sprintf("the step's container was terminated by signal %d (exit code %d)", code-128, code)
	}
	return fmt.Sprintf("the step's container exited with code %d", code)
}

// attemptFailed schedules the next attempt when planRetry says so, else fails the step.
func (p *pass) attemptFailed(step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus, a Attempt, code *int32, msg string) {
	at := a.End.FinishedAt
	st.ExitCode, st.Message = code, msg
	plan := planRetry(step, st.Attempts, st.InfrastructureRetries, a, code, msg)
	if plan.retry {
		if plan.infrastructure {
			st.InfrastructureRetries++
		}
		next := metav1.NewTime(at.Add(plan.delay))
		st.Phase, st.NextAttemptTime = aiasv1alpha1.StepRetrying, &next
		p.wakeAt(next.Time)
		p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeNormal, Reason: aiasv1alpha1.RunEventStepRetrying,
			Message: fmt.Sprintf("Step %s attempt %d failed (%s); attempt %d in %s%s", st.Name, st.Attempts, msg, st.Attempts+1, plan.delay,
				infrastructureNote(plan, st.InfrastructureRetries, step))})
		return
	}
	if plan.note != "" {
		st.Message = msg + " (" + plan.note + ")"
	}
	t := metav1.NewTime(at)
	st.Phase, st.CompletionTime = aiasv1alpha1.StepFailed, &t
	p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeWarning, Reason: aiasv1alpha1.RunEventStepFailed,
		Message: fmt.Sprintf("Step %s failed after %d attempt(s): %s", st.Name, st.Attempts, st.Message)})
}

// infrastructureNote says, for the event, that a retry is the count-th infrastructure
// retry; "" for an ordinary retry.
func infrastructureNote(plan retryPlan, count int32, step *aiasv1alpha1.WorkflowStep) string {
	if !plan.infrastructure {
		return ""
	}
	return fmt.Sprintf(" (infrastructure failure %d of %d, not counted against retries)", count, infrastructureLimit(step))
}

// failUnstarted fails a step before any attempt: its when or a reference of its could
// not be evaluated. The message names the expression.
func (p *pass) failUnstarted(st *aiasv1alpha1.StepStatus, msg string) {
	t := metav1.NewTime(p.in.Now)
	st.Phase, st.Message, st.CompletionTime = aiasv1alpha1.StepFailed, msg, &t
	p.d.Events = append(p.d.Events, Event{Type: corev1.EventTypeWarning, Reason: aiasv1alpha1.RunEventStepFailed,
		Message: fmt.Sprintf("Step %s failed before it started: %s", st.Name, msg)})
}

// dependencyState says whether step i can start (ready) or never will (blocker names why).
func dependencyState(steps []aiasv1alpha1.StepStatus, spec *aiasv1alpha1.WorkflowSpec, i int) (blocker string, ready bool) {
	if expr := spec.Steps[i].Depends; expr != "" {
		return dependsState(steps, expr)
	}
	ready = true
	for _, dep := range spec.StepDependencies(i) {
		st := stepStatus(steps, dep)
		switch {
		case st == nil:
			return fmt.Sprintf("dependency %s is unknown", dep), false
		case st.Phase == aiasv1alpha1.StepSucceeded:
		case StepFinished(st.Phase):
			return fmt.Sprintf("dependency %s %s", dep, lower(st.Phase)), false
		default:
			ready = false
		}
	}
	return "", ready
}

// dependsState is dependencyState for a step with a depends expression: it waits until
// every step the expression names has ended, then is ready when the expression is true.
func dependsState(steps []aiasv1alpha1.StepStatus, expr string) (blocker string, ready bool) {
	d, err := workflowexpr.ParseDepends(expr)
	if err != nil {
		return "depends: " + err.Error(), false
	}
	for _, dep := range d.Steps() {
		st := stepStatus(steps, dep)
		switch {
		case st == nil:
			return fmt.Sprintf("dependency %s is unknown", dep), false
		case !StepFinished(st.Phase):
			return "", false
		}
	}
	if !d.Eval(func(name string) string { return string(stepStatus(steps, name).Phase) }) {
		return "depends is false (" + expr + ")", false
	}
	return "", true
}

func copySteps(in []aiasv1alpha1.StepStatus) []aiasv1alpha1.StepStatus {
	out := make([]aiasv1alpha1.StepStatus, len(in))
	for i := range in {
		in[i].DeepCopyInto(&out[i])
	}
	return out
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
