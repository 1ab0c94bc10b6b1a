package console

import (
	"encoding/json"
	"io"
	"net/http"
)

// itemsWriter answers a JSON document {"items": [...], ...} one item at a time, so an
// answer of any length costs the server about one item of memory. The status goes out
// with the first item (or at Close), so a failure before it is still a proper error
// answer (fail); one after it aborts the response, which the client sees as a broken
// body rather than a list with items missing.
type itemsWriter struct {
	w       http.ResponseWriter
	started bool
	n       int
	err     error // the first write error: the client went away
}

func (iw *itemsWriter) start() {
	iw.started = true
	iw.w.Header().Set("Content-Type", "application/json")
	iw.w.Header().Set("X-Content-Type-Options", "nosniff")
	iw.w.WriteHeader(http.StatusOK)
	_, iw.err = io.WriteString(iw.w, `{"items":[`)
}

// Item writes one item; its error is the client's (stop writing).
func (iw *itemsWriter) Item(v any) error {
	if !iw.started {
		iw.start()
	}
	if iw.err != nil {
		return iw.err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if iw.n > 0 {
		data = append([]byte{','}, data...)
	}
	iw.n++
	_, iw.err = iw.w.Write(data)
	return iw.err
}

// Close ends the list; tail, a struct or nil, gives the document's other fields.
func (iw *itemsWriter) Close(tail any) {
	if !iw.started {
		iw.start()
	}
	if iw.err != nil {
		return
	}
	end := []byte("]}\n")
	if tail != nil {
		if data, err := json.Marshal(tail); err == nil && len(data) > 2 {
			end = append(append([]byte("],"), data[1:]...), '\n')
		}
	}
	_, iw.err = iw.w.Write(end)
}

// fail answers err: as apiFailure while nothing was sent, else by aborting the response.
func (iw *itemsWriter) fail(a *Server, r *http.Request, what string, err error) {
	switch {
	case iw.err != nil:
		return // the client went away
	case !iw.started:
		a.apiFailure(iw.w, what, err)
		return
	}
	if r.Context().Err() == nil {
		a.Log.Error(err, "request failed after its answer began", "what", what)
	}
	panic(http.ErrAbortHandler)
}
