package steprun_test

import (
	"context"
	"strings"
	"testing"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steprun"
	"github.com/aias-dev/aias/internal/store"
)

// A step whose dependencies' results cannot be merged (one is not text) fails before its
// command runs, and the Run learns why from the step's outcome: the API's sentence naming
// the step and its result. On main the binary result was embedded as a JSON string with
// U+FFFD for its bytes, and the step ran on that.
func TestStepFailsNamingAResultItCannotMerge(t *testing.T) {
	ctx := context.Background()
	s := newStep(t, "unmergeable", `{}`, "sh", "-c", `cat; echo ran`)
	for step, body := range map[string]string{"parse": `{"a":1}`, "image": "\x89PNG\r\n\x1a\n\x00\xff"} {
		ct := "application/octet-stream"
		if step == "parse" {
			ct = "application/json"
		}
		key := store.ArtifactKey{Namespace: "acme", RunName: "unmergeable", RunUID: s.run.UID, Step: step, Attempt: 1, Name: "result"}
		if _, err := testStore.PutArtifact(ctx, key, ct, strings.NewReader(body), 0, ""); err != nil {
			t.Fatal(err)
		}
	}
	s.cmd.Env = append(s.cmd.Env, stepjob.EnvFrom+"=parse,image")
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.wait(t)
	if s.exitCode != steprun.ExitInputUnavailable || strings.Contains(s.stdout.String(), "ran") {
		t.Fatalf("exit %d, stdout %q; want %d before the command runs", s.exitCode, s.stdout.String(), steprun.ExitInputUnavailable)
	}
	o := s.outcome(t)
	for _, want := range []string{"step image's result (10 bytes, application/octet-stream) is not text", "ResultNotEmbeddable"} {
		if !strings.Contains(o.Message, want) {
			t.Errorf("outcome message %q, want it to say %q", o.Message, want)
		}
	}
}
