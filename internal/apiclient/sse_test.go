package apiclient

import (
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestReadEvents(t *testing.T) {
	stream := ": keep-alive\n" +
		"retry: 250\n" +
		"event: line\r\nid: c1\r\ndata: {\"line\":\"a\"}\r\n\r\n" + // CRLF line ends
		"data: first\rdata: second\r\r" + // lone CR line ends, multi-line data, default type
		"event: line\nid: c2\ndata:no-space\n\n" +
		"id: c3\n\n" + // no data: not dispatched, but the id sticks
		"event: end\ndata: {}\n\n" +
		"event: line\ndata: cut off" // no blank line: discarded
	var got []event
	touched := 0
	// One byte at a time, so the CR-at-buffer-end path is exercised.
	err := readEvents(iotest.OneByteReader(strings.NewReader(stream)), func() { touched++ }, func(e event) error {
		got = append(got, e)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []event{
		{Type: "line", ID: "c1", Data: `{"line":"a"}`, Retry: 250 * time.Millisecond},
		{Type: "message", ID: "c1", Data: "first\nsecond", Retry: 250 * time.Millisecond},
		{Type: "line", ID: "c2", Data: "no-space", Retry: 250 * time.Millisecond},
		{Type: "end", ID: "c3", Data: "{}", Retry: 250 * time.Millisecond},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d events %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if touched < 10 {
		t.Errorf("touch called %d times, want once per line", touched)
	}
}
