package stepapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// putResult stores content as step's result in run.
func putResult(t *testing.T, run steptoken.Run, step, contentType string, content []byte) {
	t.Helper()
	key := store.ArtifactKey{Namespace: run.Namespace, RunName: run.Name, RunUID: run.UID, Step: step, Attempt: 1, Name: stepjob.ResultArtifact}
	if _, err := testStore.PutArtifact(context.Background(), key, contentType, bytes.NewReader(content), 0, ""); err != nil {
		t.Fatal(err)
	}
}

// getInput reads the step input of at from the given steps.
func getInput(t *testing.T, srvURL string, at attempt, from string) (int, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(at.request(http.MethodGet, srvURL, stepjob.PathInput+"?from="+from, "", nil))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body
}

// A merged input embeds each dependency's result exactly: a JSON result as the JSON value
// it is, byte for byte, a text result as a JSON string of its text. A result too large to
// embed (over 1 MiB) or that is not text is an error naming the step, its size and its
// content type, never cut short or mangled; the same result alone streams whole. On main
// JSON results were re-encoded (compacted), a large result was cut at 16 MiB or embedded
// whole, and binary content was embedded as a JSON string with U+FFFD for each byte that
// is not UTF-8.
func TestInternalAPIMergedInputIsExactOrANamedError(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "merged", UID: servertest.FreshUID()}
	jsonResult := []byte("{\"k\": [1, 2],\n \"s\": \"caf\u00e9 \\u00e9\"}\n")
	textResult := []byte("line \"one\"\n\ttab \x01 caf\u00e9 <b>&</b>\n")
	notJSON := []byte(`{"k": 1`) // announced as JSON but cut short: text
	large := bytes.Repeat([]byte("L"), 2<<20)
	binary := []byte{0x89, 'P', 'N', 'G', 0xff, 0x00, 0xfe}
	putResult(t, run, "a", "application/json", jsonResult)
	putResult(t, run, "b", "text/plain; charset=utf-8", textResult)
	putResult(t, run, "c", "application/json", notJSON)
	putResult(t, run, "large", "text/plain; charset=utf-8", large)
	putResult(t, run, "bin", "application/octet-stream", binary)
	at := newAttempt(t, iss, run, "sum", 1)

	code, body := getInput(t, srv.URL, at, "b,a,c")
	var merged map[string]json.RawMessage
	if code != http.StatusOK || json.Unmarshal(body, &merged) != nil {
		t.Fatalf("merged input: %d %q", code, body)
	}
	if got := string(merged["a"]); got != string(bytes.TrimSpace(jsonResult)) {
		t.Errorf("JSON result embedded as %q, want %q", got, bytes.TrimSpace(jsonResult))
	}
	for step, want := range map[string][]byte{"b": textResult, "c": notJSON} {
		var got string
		if err := json.Unmarshal(merged[step], &got); err != nil || got != string(want) {
			t.Errorf("text result of %s embedded as %s (%v), want the string %q", step, merged[step], err, want)
		}
	}
	if !bytes.HasPrefix(body, []byte(`{"a":`)) || len(merged) != 3 {
		t.Errorf("merged input %q: want the steps in name order", body)
	}

	for _, tc := range []struct{ from, step, size, contentType, why string }{
		{"a,large", "large", "2 MiB", "text/plain; charset=utf-8", "too large"},
		{"bin,b", "bin", "7 bytes", "application/octet-stream", "not text"},
	} {
		code, body := getInput(t, srv.URL, at, tc.from)
		var e struct{ Error, Reason string }
		_ = json.Unmarshal(body, &e)
		want := fmt.Sprintf("step %s's result (%s, %s)", tc.step, tc.size, tc.contentType)
		if code != http.StatusUnprocessableEntity || e.Reason != "ResultNotEmbeddable" || !strings.Contains(e.Error, want) || !strings.Contains(e.Error, tc.why) {
			t.Errorf("from=%s: %d %s, want 422 ResultNotEmbeddable saying %q ... %s", tc.from, code, body, want, tc.why)
		}
	}
	if code, body := getInput(t, srv.URL, at, "a,missing"); code != http.StatusNotFound || !strings.Contains(string(body), "step missing has no result") {
		t.Errorf("from a step without a result: %d %s", code, body)
	}
	for step, want := range map[string][]byte{"large": large, "bin": binary} {
		if code, body := getInput(t, srv.URL, at, step); code != http.StatusOK || !bytes.Equal(body, want) {
			t.Errorf("from=%s alone: %d, %d bytes, want its %d bytes as they are", step, code, len(body), len(want))
		}
	}
}
