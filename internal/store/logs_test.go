package store

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/stepjob"
)

func TestLogText(t *testing.T) {
	for _, tc := range []struct {
		in, text string
		exact    bool
	}{
		{"plain", "plain", true},
		{"", "", true},
		{"grüße ✓", "grüße ✓", true},
		{"a\x00b", "a\uFFFDb", false},
		{"caf\xe9", "caf\uFFFD", false},
		{"\xe2\x82", "\uFFFD\uFFFD", false},           // a cut-off three-byte sequence: one U+FFFD per byte
		{"\xed\xa0\x80", "\uFFFD\uFFFD\uFFFD", false}, // a UTF-16 surrogate, which UTF-8 forbids
		{"ok \uFFFD", "ok \uFFFD", true},              // a real U+FFFD is text
	} {
		text, raw := LogText(stepjob.LogLine{Line: tc.in})
		if text != tc.text || (raw == nil) != tc.exact || (raw != nil && string(raw) != tc.in) {
			t.Errorf("LogText(%q) = %q, %q; want %q (exact %v)", tc.in, text, raw, tc.text, tc.exact)
		}
		if text2, raw2 := LogText(stepjob.LogLine{Raw: []byte(tc.in)}); text2 != text || !bytes.Equal(raw2, raw) {
			t.Errorf("LogText(Raw %q) = %q, %q; want the same as from Line", tc.in, text2, raw2)
		}
	}
}

// Lines holding NUL or invalid UTF-8 (which a text column refuses) are stored with their
// exact bytes beside a text form, in a batch with ordinary lines, none of which is lost:
// through COPY, through the insert that skips lines of a retried batch, and from both
// the Line and the Raw field.
func TestLogsKeepBytesThatAreNotText(t *testing.T) {
	ctx := context.Background()
	target := LogTarget{Namespace: "acme", RunUID: newUID(t), Step: "build", Attempt: 1}
	texts := []string{"a\x00b", "caf\xe9 latin-1", "\xff\xfe\x00", "", "grüße"}
	var lines []stepjob.LogLine
	for i, s := range texts {
		lines = append(lines, stepjob.LogLine{Stream: stepjob.StreamStdout, Seq: int64(i + 1), Time: time.Now(), Line: s})
	}
	for i := range 5 {
		lines = append(lines, stepjob.LogLine{Stream: stepjob.StreamStdout, Seq: int64(len(texts) + i + 1), Time: time.Now(), Line: fmt.Sprint(i + 1)})
	}
	n, err := testStore.AppendLogs(ctx, target, lines)
	if err != nil || n != int64(len(lines)) {
		t.Fatalf("AppendLogs = %d, %v; want %d", n, err, len(lines))
	}
	// A retry of the batch with one more line, this one sent as Raw: the skipping insert.
	more := append(lines[:len(lines):len(lines)], stepjob.LogLine{Stream: stepjob.StreamStdout, Seq: int64(len(lines) + 1), Time: time.Now(), Raw: []byte("tail\x00\x80")})
	if n, err := testStore.AppendLogs(ctx, target, more); err != nil || n != 1 {
		t.Fatalf("retried batch: AppendLogs = %d, %v; want 1", n, err)
	}
	got, err := testStore.ReadLogs(ctx, target, stepjob.StreamStdout, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(more) {
		t.Fatalf("read %d lines, want %d: %+v", len(got), len(more), got)
	}
	var size int64
	for i, l := range got {
		want := more[i].Line
		if more[i].Raw != nil {
			want = string(more[i].Raw)
		}
		size += int64(len(want))
		exact := l.Line
		if l.Raw != nil {
			exact = string(l.Raw)
		}
		wantText, _ := LogText(more[i])
		if l.Seq != int64(i+1) || exact != want || l.Line != wantText {
			t.Errorf("line %d = seq %d %q raw %q; want %q (text %q)", i+1, l.Seq, l.Line, l.Raw, want, wantText)
		}
	}
	keys := []LogKey{{Step: "build", Attempt: 1, Stream: stepjob.StreamStdout}}
	refs, _, err := testStore.PageRunLogs(ctx, target.RunUID, keys, RunLogPage{Limit: 100, MaxBytes: 1 << 20})
	var keyed []RunLogLine
	if err == nil {
		err = testStore.ReadRunLogLines(ctx, target.RunUID, keys, refs, func(l RunLogLine) error { keyed = append(keyed, l); return nil })
	}
	if err != nil || len(keyed) != len(more) || keyed[0].Line != "a\uFFFDb" || keyed[5].Line != "1" {
		t.Errorf("PageRunLogs, ReadRunLogLines = %+v, %v", keyed, err)
	}
	if n, err := testStore.LogBytes(ctx, target.RunUID); err != nil || n != size {
		t.Errorf("LogBytes = %d, %v; want %d (the exact bytes)", n, err, size)
	}
}
