package stepapi

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// A batch holding NUL and invalid UTF-8 is stored whole, the lines after them too: NUL as
// a JSON string escape (what any JSON client sends) and both as raw bytes (what step-run
// sends for lines that are not text). The log cap counts the exact bytes.
func TestInternalAPILogsBytesThatAreNotText(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "bytes", UID: servertest.FreshUID()}
	logCap := int64(1000)
	if err := testStore.SetRunLimits(context.Background(), run.UID, store.RunLimits{LogBytes: &logCap}); err != nil {
		t.Fatal(err)
	}
	at := newAttempt(t, iss, run, "build", 1)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	batch := fmt.Sprintf(`{"lines":[
		{"stream":"stdout","seq":1,"time":"2026-11-25T10:00:00Z","line":"a\u0000b"},
		{"stream":"stdout","seq":2,"time":"2026-11-25T10:00:00Z","raw":%q},
		{"stream":"stdout","seq":3,"time":"2026-11-25T10:00:00Z","raw":%q},
		{"stream":"stdout","seq":4,"time":"2026-11-25T10:00:00Z","raw":%q},
		{"stream":"stdout","seq":5,"time":"2026-11-25T10:00:00Z","line":"after"}]}`, b64("caf\xe9"), b64("\x00"), b64("plain"))
	status, body := at.call(t, srv.URL, http.MethodPost, stepjob.PathLogs, "application/json", batch)
	if status != http.StatusOK || body["inserted"] != float64(5) {
		t.Fatalf("log post: %d %v, want 200 inserted=5", status, body)
	}
	lines, err := testStore.ReadLogs(context.Background(), store.LogTarget{RunUID: run.UID, Step: "build", Attempt: 1}, "stdout", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range lines {
		got = append(got, fmt.Sprintf("%d:%+q:%+q", l.Seq, l.Line, l.Raw))
	}
	want := []string{`1:"a\ufffdb":"a\x00b"`, `2:"caf\ufffd":"caf\xe9"`, `3:"\ufffd":"\x00"`, `4:"plain":""`, `5:"after":""`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("stored\n  %s\nwant\n  %s", strings.Join(got, " "), strings.Join(want, " "))
	}
	if _, used, _ := testStore.RunLimits(context.Background(), run.UID); used != 3+4+1+5+5 {
		t.Errorf("log bytes counted %d, want %d", used, 3+4+1+5+5)
	}
}

// Batches the API can never take are refused with 4xx (never 503, which step-run would
// resend) and a reason, and store nothing.
func TestInternalAPILogsRefusedForGood(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "refused", UID: servertest.FreshUID()}
	at := newAttempt(t, iss, run, "build", 1)
	line := func(fields string) string {
		return `{"lines":[{"stream":"stdout","seq":1,"time":"2026-11-25T10:00:00Z",` + fields + `}]}`
	}
	long := strings.Repeat("x", MaxLogLineBytes+1)
	for _, tc := range []struct {
		name, body string
		status     int
		reason     string
	}{
		{"line and raw", line(`"line":"x","raw":"eA=="`), http.StatusBadRequest, "BadLine"},
		{"raw not base64", line(`"raw":"!!"`), http.StatusBadRequest, "BadBody"},
		{"seq 0", `{"lines":[{"stream":"stdout","seq":0,"line":"x"}]}`, http.StatusBadRequest, "BadLine"},
		{"twice the same seq", `{"lines":[{"stream":"stdout","seq":1,"line":"x"},{"stream":"stdout","seq":1,"line":"y"}]}`, http.StatusBadRequest, "BadLine"},
		{"line too long", line(`"line":"` + long + `"`), http.StatusRequestEntityTooLarge, "LineTooLong"},
		{"raw too long", line(`"raw":"` + base64.StdEncoding.EncodeToString([]byte(long)) + `"`), http.StatusRequestEntityTooLarge, "LineTooLong"},
		{"data after the batch", line(`"line":"x"`) + `{"lines":[]}`, http.StatusBadRequest, "BadBody"},
		{"body too large", `{"lines":[{"stream":"stdout","seq":1,"line":"` + strings.Repeat("y", maxLogBodyBytes) + `"}]}`, http.StatusRequestEntityTooLarge, "BodyTooLarge"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := at.call(t, srv.URL, http.MethodPost, stepjob.PathLogs, "application/json", tc.body)
			if status != tc.status || body["reason"] != tc.reason {
				t.Errorf("%d %v, want %d %s", status, body, tc.status, tc.reason)
			}
		})
	}
	if lines, err := testStore.ReadLogs(context.Background(), store.LogTarget{RunUID: run.UID, Step: "build", Attempt: 1}, "stdout", 0, 10); err != nil || len(lines) != 0 {
		t.Errorf("stored %+v, %v; want nothing", lines, err)
	}
}
