// Package runengine holds the decisions of a Run: which steps are ready, when a failed
// attempt is retried and after what backoff, how a timed-out attempt or Run is told,
// which phase a Run ends in from its steps, and which attempt to create next.
//
// It has no client, no store and no clock of its own: the Run reconciler
// (controllers/run_*.go) observes the world, hands the engine the frozen Workflow spec,
// the Run's status, what it saw of each step's latest attempt (Attempt, a value built
// from a Job's labels and status, never the Job itself) and the time, and carries out the
// Decision that comes back. Its table tests run in milliseconds.
//
// It lives under internal/ rather than controllers/ because it is not a controller: no
// controller-runtime type crosses its boundary, and only the Run reconciler may use it.
package runengine
