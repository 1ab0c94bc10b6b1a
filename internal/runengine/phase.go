package runengine

import (
	"fmt"
	"strings"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// settle is how the Run ends from its steps (main steps first, then finally steps):
// Succeeded when every step succeeded or was skipped, Failed when a step failed, once
// nothing runs and the finally steps have ended; nil while it goes on. Steps left waiting
// behind a failure are skipped here.
func settle(steps []aiasv1alpha1.StepStatus, main int) *Finish {
	mainSteps, finallySteps := steps[:main], steps[main:]
	skipAfterFailure(mainSteps, "another step failed")
	skipAfterFailure(finallySteps, "another finally step failed")
	if !allFinished(steps) {
		return nil
	}
	var failures []string
	if f := firstFailed(mainSteps); f != nil {
		failures = append(failures, fmt.Sprintf("step %s failed: %s", f.Name, f.Message))
	}
	if f := firstFailed(finallySteps); f != nil {
		failures = append(failures, fmt.Sprintf("finally step %s failed: %s", f.Name, f.Message))
	}
	if len(failures) > 0 {
		// The first failure's reason comes first: a failing notification must not hide
		// why the Run failed.
		return &Finish{Phase: aiasv1alpha1.RunFailed, Reason: aiasv1alpha1.RunReasonStepFailed, Message: strings.Join(failures, "; ")}
	}
	msg := fmt.Sprintf("all %d steps succeeded", len(steps))
	if skipped := count(steps, aiasv1alpha1.StepSkipped); skipped > 0 {
		msg = fmt.Sprintf("%d of %d steps succeeded, %d skipped", len(steps)-skipped, len(steps), skipped)
	}
	if cached := cachedCount(steps); cached > 0 {
		msg += fmt.Sprintf(", %d from the cache", cached)
	}
	return &Finish{Phase: aiasv1alpha1.RunSucceeded, Reason: aiasv1alpha1.RunReasonSucceeded, Message: msg}
}

// skipAfterFailure skips the waiting steps of a group in which a step failed and none
// runs any more; it reports whether it skipped any.
func skipAfterFailure(group []aiasv1alpha1.StepStatus, why string) bool {
	if firstFailed(group) == nil || active(group) {
		return false
	}
	skipped := false
	for i := range group {
		switch st := &group[i]; st.Phase {
		case aiasv1alpha1.StepPending:
			st.Phase, st.Message, skipped = aiasv1alpha1.StepSkipped, "not run: "+why, true
		case aiasv1alpha1.StepWaiting:
			// A gate still waiting has nothing left to decide.
			st.Phase, st.Message, skipped = aiasv1alpha1.StepSkipped, "not decided: "+why, true
		}
	}
	return skipped
}

// AllEnded reports that every step of steps has a final phase.
func AllEnded(steps []aiasv1alpha1.StepStatus) bool { return allFinished(steps) }

// allFinished: every step of the group has a final phase (an empty group too).
func allFinished(group []aiasv1alpha1.StepStatus) bool {
	for _, st := range group {
		if !StepFinished(st.Phase) {
			return false
		}
	}
	return true
}

// Canceled is how a canceled Run ends: Superseded when a newer Run of its concurrency
// key replaced it (supersededBy names that Run), else Canceled.
func Canceled(supersededBy string) Finish {
	if supersededBy != "" {
		return Finish{Phase: aiasv1alpha1.RunCanceled, Reason: aiasv1alpha1.RunReasonSuperseded, Message: "superseded by run " + supersededBy}
	}
	return Finish{Phase: aiasv1alpha1.RunCanceled, Reason: aiasv1alpha1.RunReasonCanceled, Message: "canceled by spec.cancel"}
}

// Ending is how a Run that ends as f really ends: cancellation wins over whatever else
// ended it in the same pass.
func Ending(f Finish, cancel bool, supersededBy string) Finish {
	// A stopped Run's own Canceled end (its finally steps ran; their failure is in its
	// message) stands, unless it does not say yet that a newer Run superseded it.
	if cancel && (f.Phase != aiasv1alpha1.RunCanceled || supersededBy != "" && f.Reason != aiasv1alpha1.RunReasonSuperseded) {
		return Canceled(supersededBy)
	}
	return f
}

// EndSteps stops every unfinished step: running ones take phase, pending ones are skipped.
func EndSteps(steps []aiasv1alpha1.StepStatus, phase aiasv1alpha1.StepPhase, msg string) {
	for i := range steps {
		st := &steps[i]
		switch st.Phase {
		case aiasv1alpha1.StepRunning, aiasv1alpha1.StepRetrying, aiasv1alpha1.StepWaiting:
			st.Phase, st.Message, st.NextAttemptTime = phase, msg, nil
		case aiasv1alpha1.StepPending, "":
			st.Phase, st.Message = aiasv1alpha1.StepSkipped, "not run: "+msg
		}
		for k := range st.Items {
			switch it := &st.Items[k]; it.Phase {
			case aiasv1alpha1.StepRunning, aiasv1alpha1.StepRetrying:
				it.Phase, it.Message, it.NextAttemptTime = phase, msg, nil
			case aiasv1alpha1.StepPending, "":
				it.Phase, it.Message = aiasv1alpha1.StepSkipped, "not run: "+msg
			}
		}
	}
}

// StepFinished reports a step phase that never changes again.
func StepFinished(p aiasv1alpha1.StepPhase) bool {
	switch p {
	case aiasv1alpha1.StepSucceeded, aiasv1alpha1.StepFailed, aiasv1alpha1.StepSkipped, aiasv1alpha1.StepCanceled:
		return true
	}
	return false
}

// AnyAttemptStarted reports that some step has had an attempt.
func AnyAttemptStarted(steps []aiasv1alpha1.StepStatus) bool {
	for _, st := range steps {
		if st.Attempts > 0 {
			return true
		}
		for _, it := range st.Items {
			if it.Attempts > 0 {
				return true
			}
		}
	}
	return false
}

// Summary is the printer column: succeeded/total, and how many a when or a depends
// skipped when any did (steps skipped after a failure or a cancel are not counted apart:
// the Run's phase tells that story).
func Summary(steps []aiasv1alpha1.StepStatus) string {
	n := count(steps, aiasv1alpha1.StepSucceeded)
	ended := count(steps, aiasv1alpha1.StepFailed) + count(steps, aiasv1alpha1.StepCanceled)
	if skipped := count(steps, aiasv1alpha1.StepSkipped); skipped > 0 && ended == 0 {
		return fmt.Sprintf("%d/%d (%d skipped)", n, len(steps), skipped)
	}
	return fmt.Sprintf("%d/%d", n, len(steps))
}

func stepStatus(steps []aiasv1alpha1.StepStatus, name string) *aiasv1alpha1.StepStatus {
	for i := range steps {
		if steps[i].Name == name {
			return &steps[i]
		}
	}
	return nil
}

func firstFailed(steps []aiasv1alpha1.StepStatus) *aiasv1alpha1.StepStatus {
	for i := range steps {
		if steps[i].Phase == aiasv1alpha1.StepFailed {
			return &steps[i]
		}
	}
	return nil
}

func active(steps []aiasv1alpha1.StepStatus) bool {
	for _, st := range steps {
		if st.Phase == aiasv1alpha1.StepRunning || st.Phase == aiasv1alpha1.StepRetrying {
			return true
		}
	}
	return false
}

func count(steps []aiasv1alpha1.StepStatus, phase aiasv1alpha1.StepPhase) int {
	n := 0
	for _, st := range steps {
		if st.Phase == phase {
			n++
		}
	}
	return n
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
