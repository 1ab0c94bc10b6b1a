package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// maxNameLength keeps child names valid as label values (a Job's name becomes its pods'
// job-name label), which are capped at 63 characters.
const maxNameLength = 63

// nameHashLength is the hex digits of sha256 a name carries when it cannot be readable:
// 64 bits, so that neither chance nor a tenant choosing names makes two keys meet.
const nameHashLength = 16

// boundedName is readable when that reads back as key alone (exact) and fits in a label
// value; otherwise it is the start of readable and "-" and a hash of key. Names are
// deterministic, so a restarted reconcile finds the same child.
//
// Callers keep the two forms apart: a hashed name ends in nameHashLength hex digits
// after its last "-", which no readable name of the same kind does.
func boundedName(readable string, exact bool, key string) string {
	if exact && len(readable) <= maxNameLength {
		return readable
	}
	sum := sha256.Sum256([]byte(key))
	suffix := hex.EncodeToString(sum[:])[:nameHashLength]
	prefix := strings.TrimRight(readable[:min(len(readable), maxNameLength-len(suffix)-1)], "-.")
	return prefix + "-" + suffix
}

// childName joins parts with "-" for callers whose parts cannot run into one another
// (fixed words, enum values, hashes, or one name): the join then reads back as the
// parts, and only its length can call for a hash.
func childName(parts ...string) string {
	name := strings.Join(parts, "-")
	return boundedName(name, true, name)
}

// jobName is the Job (and Pod) of one step attempt: `<run>-<step>-<attempt>` when that
// reads back as one tuple, that is when the step name has no "-" (a Run's name may: the
// attempt is the last part and the step the one before), else that joined name cut to
// fit and a hash of the tuple. So Run `a-b` step `c` is `a-b-c-1` and Run `a` step `b-c`
// is `a-b-c-1-<hash>`. A readable Job name ends in the attempt, at most 10 digits; a
// hashed one in 16 hex digits: they never meet.
func jobName(run, step string, attempt int32) string {
	n := fmt.Sprint(attempt)
	return boundedName(run+"-"+step+"-"+n, !strings.Contains(step, "-"), run+"\x00"+step+"\x00"+n)
}

// tokenSecretName holds the per-run token the step pods present to the internal API:
// `<run>-step-token`, or cut to fit and a hash of the Run's name.
func tokenSecretName(run string) string {
	return boundedName(run+"-step-token", true, run)
}
