package controllers

import (
	"fmt"
	"strings"

	"github.com/aias-dev/aias/internal/runs"
)

// The names of a Run's children follow the one naming rule every AIAS name follows
// (runs.BoundedName): readable when that reads back as the key and fits in a label value
// (a Job's name becomes its pods' job-name label), otherwise cut to fit and "-" and
// runs.HashLength hex digits of a sha256 of the key. Names are deterministic, so a
// restarted reconcile finds the same child.

// childName joins parts with "-" for callers whose parts cannot run into one another
// (fixed words, enum values, hashes, or one name): the join then reads back as the
// parts, and only its length can call for a hash.
func childName(parts ...string) string {
	return runs.JoinName(parts...)
}

// jobName is the Job (and Pod) of one step attempt: `<run>-<step>-<attempt>` when that
// reads back as one tuple, that is when the step name has no "-" (a Run's name may: the
// attempt is the last part and the step the one before), else that joined name cut to
// fit and a hash of the tuple. So Run `a-b` step `c` is `a-b-c-1` and Run `a` step `b-c`
// is `a-b-c-1-<hash>`. A readable Job name ends in the attempt, at most 10 digits; a
// hashed one in 16 hex digits: they never meet.
func jobName(run, step string, attempt int32) string {
	n := fmt.Sprint(attempt)
	return runs.BoundedName(run+"-"+step+"-"+n, !strings.Contains(step, "-"), run+"\x00"+step+"\x00"+n)
}

// tokenSecretName holds the per-run token the step pods present to the internal API:
// `<run>-step-token`, or cut to fit and a hash of the Run's name.
func tokenSecretName(run string) string {
	return runs.BoundedName(run+"-step-token", true, run)
}
