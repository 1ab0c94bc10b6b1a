package controllers

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// A Run's spec.inputRef.digest resolves only to an input stored for the Run's own
// namespace. Reproduces issue 21 item 2: on main, inputs were keyed by digest alone, so a
// tenant that put the sha256 of another tenant's payload into a Run of its own namespace
// had that payload handed to its step (the Run started, status.inputDigest set). Now the
// Run fails with reason InputNotFound, naming the digest and the namespace, while the
// namespace that stored the input still resolves it.
func TestRunInputRefScopedToNamespace(t *testing.T) {
	h := newRunHarness(t)             // the attacker's namespace; its manager reconciles every namespace
	victim := newRunHarnessNoStart(t) // another tenant's namespace
	payload := `{"secret":"victim-only"}`
	sum := sha256.Sum256([]byte(payload))
	digest := "sha256:" + hex.EncodeToString(sum[:])

	victim.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	victim.run("own", "w", payload) // inline: the Run controller stores it, by digest
	victim.waitPhase("own", aiasv1alpha1.RunRunning)
	if got := victim.get("own").Status.InputDigest; got != digest {
		t.Fatalf("victim input digest %s, want %s", got, digest)
	}

	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	for _, hh := range []*rtHarness{h, victim} {
		run := &aiasv1alpha1.Run{}
		run.Namespace, run.Name = hh.ns, "by-ref"
		run.Spec.WorkflowRef.Name = "w"
		run.Spec.InputRef = &aiasv1alpha1.InputReference{Digest: digest, Size: int64(len(payload)), ContentType: "application/json"}
		if err := hh.c.Create(hh.ctx, run); err != nil {
			t.Fatal(err)
		}
	}
	stolen := h.waitPhase("by-ref", aiasv1alpha1.RunFailed)
	c := readyCondition(stolen)
	if c == nil || c.Reason != "InputNotFound" || !strings.Contains(stolen.Status.Message, digest) || !strings.Contains(stolen.Status.Message, h.ns) {
		t.Errorf("ready %+v, message %q", c, stolen.Status.Message)
	}
	if stolen.Status.InputDigest != "" || len(h.jobs("by-ref")) != 0 {
		t.Errorf("the refused Run got input digest %q and jobs %v", stolen.Status.InputDigest, jobNames(h.jobs("by-ref")))
	}
	// The namespace that stored the input reads it by reference.
	if got := victim.waitPhase("by-ref", aiasv1alpha1.RunRunning).Status.InputDigest; got != digest {
		t.Errorf("victim's Run by reference: input digest %q", got)
	}
}
