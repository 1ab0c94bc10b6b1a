package stepapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// Bounds of a merged step input (docs/security.md, "Step API bounds").
const (
	// MaxEmbeddedResultBytes is the largest dependency result a merged input embeds. A
	// larger one is an error naming it (422 ResultNotEmbeddable), never cut short.
	MaxEmbeddedResultBytes = 1 << 20
	// maxMergedInFlight bounds the merged inputs being served at once; each holds at most
	// one result (MaxEmbeddedResultBytes) in memory. Past it: 503 InputBusy.
	maxMergedInFlight = 8
)

// reasonResultNotEmbeddable answers a merged input with a result it cannot embed.
const reasonResultNotEmbeddable = "ResultNotEmbeddable"

// embedding is how a dependency's result goes into a merged input.
type embedding struct {
	step   string
	digest string
	asJSON bool // embedded as the JSON value it is; else as a JSON string of its text
}

// mergedInput serves {"a": <result of a>, "b": <result of b>, ...}, keys in name order. A
// result of type application/json that is valid JSON is embedded as that JSON value (the
// surrounding whitespace dropped), any other result that is valid UTF-8 as a JSON string
// of its text; each at most MaxEmbeddedResultBytes. Anything else is refused before a
// byte of the answer is sent (422 ResultNotEmbeddable, naming the step, its result's size
// and content type).
//
// The answer streams: a first pass checks every result, holding one at a time; a second
// reads each again (by its digest, so the same content) and writes it out. Memory is one
// result per request, and maxMergedInFlight requests at once.
func (a *Server) mergedInput(w http.ResponseWriter, r *http.Request, t stepTarget, deps []string) {
	if !a.merged.TryAcquire(1) {
		w.Header().Set("Retry-After", "1")
		httpjson.Error(w, http.StatusServiceUnavailable, "InputBusy", fmt.Sprintf("the server is assembling its most merged step inputs (%d) at once; retry shortly", maxMergedInFlight))
		return
	}
	defer a.merged.Release(1)
	deps = slices.Compact(slices.Sorted(slices.Values(deps)))
	plan := make([]embedding, len(deps))
	var buf []byte
	for i, d := range deps {
		res, err := a.Store.StepResult(r.Context(), t.run.UID, d)
		if err != nil {
			writeResultError(w, d, err)
			return
		}
		if res.Size > MaxEmbeddedResultBytes {
			notEmbeddable(w, fmt.Sprintf("step %s's result (%s, %s) is too large to embed in a merged input (at most %s)", d, sizeText(res.Size), res.ContentType, sizeText(MaxEmbeddedResultBytes)))
			return
		}
		if buf, err = a.readBlob(r, res.Digest, buf); err != nil {
			writeResultError(w, d, err)
			return
		}
		plan[i] = embedding{step: d, digest: res.Digest, asJSON: isJSONType(res.ContentType) && json.Valid(buf)}
		if !plan[i].asJSON && !utf8.Valid(buf) {
			notEmbeddable(w, fmt.Sprintf("step %s's result (%s, %s) is not text, so it cannot be embedded in a merged input (JSON results are embedded as JSON, UTF-8 text as a string)", d, sizeText(res.Size), res.ContentType))
			return
		}
	}

	w.Header().Set("Content-Type", "application/json")
	out := bufio.NewWriterSize(w, 32<<10)
	_ = out.WriteByte('{')
	for i, e := range plan {
		var err error
		if buf, err = a.readBlob(r, e.digest, buf); err != nil {
			// The status is sent: cut the answer off, so step-run sees a failed read
			// instead of JSON that looks whole.
			panic(http.ErrAbortHandler)
		}
		if i > 0 {
			_ = out.WriteByte(',')
		}
		writeJSONString(out, []byte(e.step))
		_ = out.WriteByte(':')
		if e.asJSON {
			_, _ = out.Write(bytes.TrimSpace(buf)) // JSON's whitespace is among TrimSpace's
		} else {
			writeJSONString(out, buf)
		}
	}
	_, _ = out.WriteString("}\n")
	_ = out.Flush()
}

// readBlob reads the content of digest, known to be at most MaxEmbeddedResultBytes, into
// buf's memory.
func (a *Server) readBlob(r *http.Request, digest string, buf []byte) ([]byte, error) {
	body, size, err := a.Store.OpenBlob(r.Context(), digest)
	if err != nil {
		return buf, err
	}
	defer body.Close()
	if size > MaxEmbeddedResultBytes {
		return buf, fmt.Errorf("blob %s is %d bytes", digest, size)
	}
	if int64(cap(buf)) < size {
		buf = make([]byte, size)
	}
	buf = buf[:size]
	_, err = io.ReadFull(body, buf)
	return buf, err
}

func notEmbeddable(w http.ResponseWriter, why string) {
	httpjson.Error(w, http.StatusUnprocessableEntity, reasonResultNotEmbeddable,
		why+"; a step with one dependency streams its result whatever its size and content")
}

func isJSONType(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}

// sizeText is n in the unit that reads best: bytes, KiB or MiB.
func sizeText(n int64) string {
	unit, div := "", 1.0
	switch {
	case n >= 1<<20:
		unit, div = "MiB", 1<<20
	case n >= 1<<10:
		unit, div = "KiB", 1<<10
	default:
		return strconv.FormatInt(n, 10) + " bytes"
	}
	return strings.TrimSuffix(strconv.FormatFloat(float64(n)/div, 'f', 1, 64), ".0") + " " + unit
}

// writeJSONString writes s, valid UTF-8, as a JSON string: a quote, a backslash and the
// control characters escaped, everything else as it is.
func writeJSONString(w *bufio.Writer, s []byte) {
	const hex = "0123456789abcdef"
	_ = w.WriteByte('"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		_, _ = w.Write(s[start:i])
		switch c {
		case '"', '\\':
			_ = w.WriteByte('\\')
			_ = w.WriteByte(c)
		case '\n':
			_, _ = w.WriteString(`\n`)
		case '\r':
			_, _ = w.WriteString(`\r`)
		case '\t':
			_, _ = w.WriteString(`\t`)
		default:
			_, _ = w.WriteString(`\u00`)
			_ = w.WriteByte(hex[c>>4])
			_ = w.WriteByte(hex[c&0xf])
		}
		start = i + 1
	}
	_, _ = w.Write(s[start:])
	_ = w.WriteByte('"')
}
