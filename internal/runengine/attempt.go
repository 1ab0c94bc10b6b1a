package runengine

import "time"

// AttemptState is how much an observation of an attempt tells.
type AttemptState int

const (
	// Active: the attempt runs; its end will wake the Run.
	Active AttemptState = iota
	// Ended: the attempt is over; End says how.
	Ended
	// Unsettled: what was seen is not conclusive yet (the cache lags behind a create, or
	// a missing object is still being looked for). The pass stops at the step and looks
	// again after Attempt.Retry.
	Unsettled
)

// Attempt is the engine's view of one step attempt: who it is and what became of it,
// read from its Job's labels and status (and its Pod's, and what step-run reported).
// It holds nothing a Pod could be built from: Pods are built from the frozen spec.
type Attempt struct {
	Step   string
	Number int32
	// JobName and CreatedAt identify the Job (an attempt the status does not know of
	// yet is adopted with them).
	JobName   string
	CreatedAt time.Time
	State     AttemptState
	// End is set when State is Ended.
	End *End
	// Retry is when to look again when State is Unsettled.
	Retry time.Duration
	// Waiting says what an Active attempt's Pod waits for ("waiting for a node: …",
	// "pulling image …"), shown as the step's message; "" when it waits for nothing.
	Waiting string
	// Deadline is when an Active attempt's wait fails it (its imagePullTimeout or
	// schedulingTimeout); the Run is woken then. Zero: none.
	Deadline time.Time
}

// Stalled is a running attempt whose Pod waits (for a node, an image) until deadline.
func Stalled(step string, number int32, job string, created time.Time, waiting string, deadline time.Time) Attempt {
	a := Running(step, number, job, created)
	a.Waiting, a.Deadline = waiting, deadline
	return a
}

// End is how an attempt ended.
type End struct {
	Succeeded bool
	// FinishedAt is when it ended; the next attempt's backoff counts from it.
	FinishedAt time.Time
	// Reason and Message are those of the Job's terminal condition (JobReasonPodDeleted,
	// "DeadlineExceeded", ...).
	Reason, Message string
	// ExitCode is the step container's, as its Pod tells it; nil when unknown.
	ExitCode *int32
	// Report is what step-run itself reported of the attempt; nil when it could not
	// (killed, or the node went away).
	Report *Report
	// OutputDigest is the digest of a succeeded attempt's result.
	OutputDigest string
}

// Report is the outcome step-run recorded for an attempt.
type Report struct {
	ExitCode int32
	Message  string
}

// Running is an attempt that has not ended.
func Running(step string, number int32, job string, created time.Time) Attempt {
	return Attempt{Step: step, Number: number, JobName: job, CreatedAt: created, State: Active}
}

// Finished is an attempt that ended as end says.
func Finished(step string, number int32, job string, created time.Time, end End) Attempt {
	return Attempt{Step: step, Number: number, JobName: job, CreatedAt: created, State: Ended, End: &end}
}

// NotYetKnown is an attempt to look at again after retry.
func NotYetKnown(step string, number int32, job string, created time.Time, retry time.Duration) Attempt {
	return Attempt{Step: step, Number: number, JobName: job, CreatedAt: created, State: Unsettled, Retry: retry}
}
