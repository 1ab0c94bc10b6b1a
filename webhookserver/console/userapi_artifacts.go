package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/aias-dev/aias/internal/store"

	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver/internal/httpbound"
	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// previewBytes caps what a preview reads and returns.
const previewBytes = 64 << 10

// artifactPage is how many artifacts listArtifacts reads from the store at once.
const artifactPage = 500

// listArtifacts lists every artifact of a Run (its steps may store thousands), read in
// pages along the store's key and written as they come: the answer costs the server one
// page of memory, and no database connection waits on the client.
func (a *Server) listArtifacts(w http.ResponseWriter, r *http.Request) {
	rec, err := a.Store.GetRun(r.Context(), r.PathValue("ns"), r.PathValue("run"))
	if err != nil {
		a.apiFailure(w, "run", err)
		return
	}
	iw := &itemsWriter{w: w}
	var after *store.Artifact
	for {
		page, err := a.Store.ListArtifactsAfter(r.Context(), rec.UID, after, artifactPage)
		if err != nil {
			iw.fail(a, r, "artifacts", err)
			return
		}
		for _, x := range page {
			if iw.Item(artifactInfo(x)) != nil {
				return // the client went away
			}
		}
		if len(page) < artifactPage {
			break
		}
		after = &page[len(page)-1]
	}
	iw.Close(nil)
}

// findArtifact resolves {step}/{name} (and ?attempt=, else the latest attempt) of the
// Run named in the path through the run index, which knows the Run's uid.
func (a *Server) findArtifact(w http.ResponseWriter, r *http.Request) (store.Artifact, bool) {
	attempt := 0
	if s := r.URL.Query().Get("attempt"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			badRequest(w, "attempt must be a positive number")
			return store.Artifact{}, false
		}
		attempt = n
	}
	rec, err := a.Store.GetRun(r.Context(), r.PathValue("ns"), r.PathValue("run"))
	if err != nil {
		a.apiFailure(w, "run", err)
		return store.Artifact{}, false
	}
	art, err := a.Store.FindArtifact(r.Context(), rec.UID, r.PathValue("step"), r.PathValue("name"), attempt)
	if errors.Is(err, store.ErrNotFound) {
		httpjson.Error(w, http.StatusNotFound, "NotFound", "artifact "+r.PathValue("step")+"/"+r.PathValue("name")+" not found")
		return art, false
	}
	if err != nil {
		a.apiFailure(w, "artifacts", err)
		return art, false
	}
	return art, true
}

// openArtifact finds the artifact the path names and opens its content.
func (a *Server) openArtifact(w http.ResponseWriter, r *http.Request) (store.Artifact, io.ReadSeekCloser, bool) {
	art, ok := a.findArtifact(w, r)
	if !ok {
		return art, nil, false
	}
	blob, _, err := a.Store.OpenBlob(r.Context(), art.Digest)
	if err != nil {
		a.apiFailure(w, "artifact", err)
		return art, nil, false
	}
	return art, blob, true
}

// downloadArtifact serves the content with http.ServeContent, which answers Range,
// If-Range and If-None-Match against the ETag, the content's digest: the same bytes
// always have the same tag, so a client's cached copy is valid for as long as it exists.
func (a *Server) downloadArtifact(w http.ResponseWriter, r *http.Request) {
	// An artifact of up to --max-artifact-bytes may take longer than the listener's write
	// timeout; each write must instead get through within its stream timeout.
	w, r = httpbound.Stream(w, r)
	art, blob, ok := a.openArtifact(w, r)
	if !ok {
		return
	}
	defer blob.Close()
	h := w.Header()
	h.Set("Content-Type", art.ContentType)
	h.Set("ETag", `"`+art.Digest+`"`)
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": art.Step + "-" + art.Name}))
	// A step's output is untrusted content served from the UI's origin: never let a
	// browser render it as a page of that origin.
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
	h.Set("Cache-Control", "private, max-age=0, must-revalidate")
	http.ServeContent(w, r, "", art.CreatedAt, blob)
}

// previewArtifact returns the head of an artifact fit for display: JSON re-indented when
// it is whole and parses, UTF-8 text as is, anything else only described.
func (a *Server) previewArtifact(w http.ResponseWriter, r *http.Request) {
	art, blob, ok := a.openArtifact(w, r)
	if !ok {
		return
	}
	defer blob.Close()
	head, err := io.ReadAll(io.LimitReader(blob, previewBytes))
	if err != nil {
		a.apiFailure(w, "artifact", err)
		return
	}
	p := userapi.Preview{Digest: art.Digest, ContentType: art.ContentType, Size: art.Size, Truncated: art.Size > int64(len(head))}
	mediaType, _, _ := mime.ParseMediaType(art.ContentType)
	var pretty bytes.Buffer
	switch {
	case !p.Truncated && (mediaType == "application/json" || strings.HasSuffix(mediaType, "+json")) && json.Indent(&pretty, head, "", "  ") == nil:
		p.Kind, p.Text = "json", pretty.String()
	case utf8.Valid(head) || (p.Truncated && utf8.Valid(trimPartialRune(head))):
		p.Kind, p.Text = "text", string(trimPartialRune(head))
	default:
		p.Kind = "binary"
	}
	httpjson.Write(w, http.StatusOK, p)
}

// trimPartialRune drops a UTF-8 sequence cut off by the preview cap.
func trimPartialRune(b []byte) []byte {
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if r, _ := utf8.DecodeLastRune(b); r != utf8.RuneError {
			return b
		}
		b = b[:len(b)-1]
	}
	return b
}
