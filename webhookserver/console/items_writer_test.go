package console

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/go-logr/logr"

	"github.com/aias-dev/aias/internal/userapi"
)

// The streamed document decodes as the wire type, with or without items and other fields.
func TestItemsWriterDocument(t *testing.T) {
	rec := httptest.NewRecorder()
	iw := &itemsWriter{w: rec}
	for _, l := range []string{"one", "two \"quoted\"\n"} {
		if err := iw.Item(userapi.LogEntry{Step: "a", Line: l}); err != nil {
			t.Fatal(err)
		}
	}
	iw.Close(struct {
		Cursor   string `json:"cursor"`
		Finished bool   `json:"finished"`
	}{"c1", true})
	var page userapi.LogPage
	if err := json.Unmarshal(rec.Body.Bytes(), &page); err != nil {
		t.Fatalf("%v: %s", err, rec.Body)
	}
	if len(page.Items) != 2 || page.Items[1].Line != "two \"quoted\"\n" || page.Cursor != "c1" || !page.Finished {
		t.Errorf("page %+v", page)
	}
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Errorf("status %d, Content-Type %q", rec.Code, rec.Header().Get("Content-Type"))
	}

	for _, tail := range []any{nil, struct{}{}} {
		rec = httptest.NewRecorder()
		(&itemsWriter{w: rec}).Close(tail)
		if got := rec.Body.String(); got != "{\"items\":[]}\n" {
			t.Errorf("empty list with tail %v: %q", tail, got)
		}
	}
}

// A failure before the first item is an error answer; after it, the response is aborted.
func TestItemsWriterFailure(t *testing.T) {
	a := &Server{Log: logr.Discard()}
	req := httptest.NewRequest("GET", "/", nil)
	rec := httptest.NewRecorder()
	(&itemsWriter{w: rec}).fail(a, req, "logs", errors.New("db down"))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("failure before any item: %d, want 503", rec.Code)
	}

	iw := &itemsWriter{w: httptest.NewRecorder()}
	_ = iw.Item(1)
	defer func() {
		if p := recover(); p != http.ErrAbortHandler {
			t.Errorf("failure after an item: recovered %v, want http.ErrAbortHandler", p)
		}
	}()
	iw.fail(a, req, "logs", errors.New("db down"))
}
