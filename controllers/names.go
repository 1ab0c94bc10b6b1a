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

// childName joins parts with "-"; when that is too long it keeps a prefix and appends a
// hash of the whole, so names stay deterministic (a restarted reconcile finds the same
// child) and distinct (two long Run names that share a prefix do not collide).
func childName(parts ...string) string {
	name := strings.Join(parts, "-")
	if len(name) <= maxNameLength {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	suffix := hex.EncodeToString(sum[:])[:10]
	prefix := strings.TrimRight(name[:maxNameLength-len(suffix)-1], "-.")
	return prefix + "-" + suffix
}

// jobName is the Job of one step attempt: `<run>-<step>-<attempt>`.
func jobName(run, step string, attempt int32) string {
	return childName(run, step, fmt.Sprint(attempt))
}

// tokenSecretName holds the per-run token the step pods present to the internal API.
func tokenSecretName(run string) string { return childName(run, "step-token") }
