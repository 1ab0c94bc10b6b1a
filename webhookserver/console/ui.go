package console

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"net/http"
	"path"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aias-dev/aias/webhookserver/internal/httpjson"
)

// The web console's static files: a single page app over the user API, with no build
// step and nothing loaded from outside the server.
//
//go:embed ui
var uiFiles embed.FS

// uiVersionPlaceholder in index.html is replaced by a digest of every asset, so the
// asset URLs change with each build and /ui/* can be cached for long.
//
// Only the URLs in index.html carry the version. The script is an ES module
// (ui/js/main.js) that imports its siblings by plain relative URL (./api.js): a module is
// one instance per URL, so the imports must not vary, and they have no ?v=. Such requests
// are answered with no-cache and an ETag, so the browser revalidates each module (304 when
// unchanged) and never runs a stale one next to a new main.js.
const uiVersionPlaceholder = "__AIAS_UI_VERSION__"

// uiCSP allows this origin only and no inline script or style: all code is in the modules
// under ui/js, and styles set from script use the CSSOM, which the policy does not restrict.
const uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; " +
	"form-action 'self'; frame-ancestors 'none'"

// uiContentTypes is explicit so answers do not depend on the host's MIME tables; it goes by
// extension, in any subdirectory. Browsers run a module script only when it is served with
// a JavaScript MIME type.
var uiContentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

type uiAsset struct {
	body        []byte
	contentType string
	etag        string
}

type uiServer struct {
	version string
	index   uiAsset
	assets  map[string]uiAsset // by name under /ui/
}

// loadUI reads the embedded files once per process.
var loadUI = sync.OnceValue(func() *uiServer {
	s := &uiServer{assets: map[string]uiAsset{}}
	raw := map[string][]byte{}
	err := fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFiles.ReadFile(p)
		raw[strings.TrimPrefix(p, "ui/")] = b
		return err
	})
	if err != nil {
		panic("console: embedded UI unreadable: " + err.Error()) // cannot happen: the files are compiled in
	}
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		h.Write([]byte(name))
		h.Write(raw[name])
	}
	s.version = hex.EncodeToString(h.Sum(nil))[:16]
	for name, b := range raw {
		ct, ok := uiContentTypes[path.Ext(name)]
		if !ok {
			ct = "application/octet-stream"
		}
		if name == "index.html" {
			b = bytes.ReplaceAll(b, []byte(uiVersionPlaceholder), []byte(s.version))
		}
		sum := sha256.Sum256(b)
		a := uiAsset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		if name == "index.html" {
			s.index = a // only at /, with the version filled in
			continue
		}
		s.assets[name] = a
	}
	return s
})

// uiHandler serves the console: GET / is the app, GET /ui/<file> its assets. Every
// other path is 404, so mount it at "/" below the API's own routes.
func uiHandler() http.Handler { return loadUI() }

func (s *uiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Content-Security-Policy", uiCSP)
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		httpjson.Error(w, http.StatusMethodNotAllowed, "MethodNotAllowed", "use GET")
		return
	}
	switch {
	case r.URL.Path == "/":
		// The app shell names the current asset version: always revalidate it.
		hdr.Set("Cache-Control", "no-cache")
		s.serve(w, r, "index.html", s.index)
	case strings.HasPrefix(r.URL.Path, "/ui/"):
		name := strings.TrimPrefix(r.URL.Path, "/ui/")
		a, ok := s.assets[name]
		if !ok {
			httpjson.Error(w, http.StatusNotFound, "NotFound", "no such asset")
			return
		}
		hdr.Set("Cache-Control", s.assetCacheControl(r))
		s.serve(w, r, name, a)
	default:
		httpjson.Error(w, http.StatusNotFound, "NotFound", "no such page")
	}
}

// assetCacheControl lets a browser keep an asset for long only when the URL names the
// current version, as index.html's do. Anything else, chiefly the modules main.js imports
// without a version, must be revalidated: the ETag then answers 304 while unchanged.
func (s *uiServer) assetCacheControl(r *http.Request) string {
	if r.URL.Query().Get("v") == s.version {
		return "public, max-age=31536000, immutable"
	}
	return "no-cache"
}

func (s *uiServer) serve(w http.ResponseWriter, r *http.Request, name string, a uiAsset) {
	w.Header().Set("Content-Type", a.contentType)
	w.Header().Set("ETag", a.etag)
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
}
