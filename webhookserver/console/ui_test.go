package console

import (
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

// uiModules lists the ES modules under ui/js by their name under /ui/.
func uiModules(t *testing.T) []string {
	t.Helper()
	var names []string
	err := fs.WalkDir(uiFiles, "ui/js", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names = append(names, strings.TrimPrefix(p, "ui/"))
		}
		return err
	})
	if err != nil || len(names) == 0 {
		t.Fatalf("no modules under ui/js: %v", err)
	}
	return names
}

func TestUIHandler(t *testing.T) {
	srv := httptest.NewServer(uiHandler())
	defer srv.Close()
	version := loadUI().version

	modules := uiModules(t)

	getWith := func(t *testing.T, method, path string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	get := func(t *testing.T, method, path string) (*http.Response, string) {
		t.Helper()
		return getWith(t, method, path, nil)
	}
	securityHeaders := func(t *testing.T, resp *http.Response) {
		t.Helper()
		for k, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		csp := resp.Header.Get("Content-Security-Policy")
		for _, part := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, part) {
				t.Errorf("Content-Security-Policy %q lacks %q", csp, part)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("Content-Security-Policy %q allows inline code", csp)
		}
	}

	t.Run("index", func(t *testing.T) {
		resp, body := get(t, http.MethodGet, "/")
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
			t.Fatalf("GET / = %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		securityHeaders(t, resp)
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("Cache-Control = %q, want no-cache", cc)
		}
		if strings.Contains(body, uiVersionPlaceholder) || !strings.Contains(body, "/ui/app.css?v="+version) {
			t.Errorf("index.html does not name the asset version %s", version)
		}
		// The CSP forbids inline script: every <script> must load a file. The one script is
		// the entry module, named with the version.
		tags := regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1)
		for _, tag := range tags {
			if !strings.Contains(tag, "src=") {
				t.Errorf("inline script in index.html: %s", tag)
			}
		}
		want := `<script type="module" src="/ui/js/main.js?v=` + version + `">`
		if len(tags) != 1 || tags[0] != want {
			t.Errorf("index.html scripts = %q, want only %s", tags, want)
		}
	})

	t.Run("assets", func(t *testing.T) {
		assets := map[string]string{
			"/ui/app.css?v=" + version: "text/css; charset=utf-8",
			"/ui/favicon.svg":          "image/svg+xml",
		}
		// A module script runs only when served with a JavaScript MIME type.
		for _, name := range modules {
			assets["/ui/"+name] = "text/javascript; charset=utf-8"
		}
		for p, ct := range assets {
			resp, body := get(t, http.MethodGet, p)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ct {
				t.Errorf("GET %s = %d %q, want 200 %q", p, resp.StatusCode, resp.Header.Get("Content-Type"), ct)
			}
			securityHeaders(t, resp)
			// Clusters are offline: no asset may reach for another origin.
			for _, u := range regexp.MustCompile(`https?://[^\s"'<>)]+`).FindAllString(body, -1) {
				if u != "http://www.w3.org/2000/svg" { // an XML namespace name, never fetched
					t.Errorf("%s refers to an external URL %s", p, u)
				}
			}
		}
		for _, p := range []string{"/ui/js/main.js?v=" + version, "/ui/app.css?v=" + version} {
			resp, _ := get(t, http.MethodGet, p)
			if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
				t.Errorf("versioned asset %s Cache-Control = %q, want long-lived", p, cc)
			}
		}
		// The modules main.js imports carry no version: revalidated every time, 304 while
		// unchanged.
		for _, p := range []string{"/ui/js/api.js", "/ui/js/main.js", "/ui/js/main.js?v=stale", "/ui/app.css"} {
			resp, _ := get(t, http.MethodGet, p)
			etag := resp.Header.Get("ETag")
			if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" || etag == "" {
				t.Errorf("unversioned asset %s: Cache-Control = %q, ETag = %q, want no-cache and an ETag", p, cc, etag)
				continue
			}
			resp, body := getWith(t, http.MethodGet, p, http.Header{"If-None-Match": {etag}})
			if resp.StatusCode != http.StatusNotModified || body != "" {
				t.Errorf("GET %s If-None-Match %s = %d, want 304", p, etag, resp.StatusCode)
			}
		}
	})

	t.Run("modules", func(t *testing.T) {
		known := map[string]bool{}
		for _, name := range modules {
			known[name] = true
		}
		importRE := regexp.MustCompile(`(?m)^\s*(?:import\s+(?:[^;'"]*?\bfrom\s*)?|export\s+[^;'"]*?\bfrom\s*)['"]([^'"]+)['"]`)
		imports := 0
		for _, name := range modules {
			b, err := uiFiles.ReadFile("ui/" + name)
			if err != nil {
				t.Fatal(err)
			}
			src := string(b)
			// One job per file, said at the top.
			if base := path.Base(name); !strings.HasPrefix(src, "// "+base+": ") {
				t.Errorf("%s does not start with a header comment naming its job", name)
			}
			// Server data reaches the DOM as text or attribute values only.
			code := regexp.MustCompile(`(?m)^\s*//.*$`).ReplaceAllString(src, "")
			for _, sink := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
				if strings.Contains(code, sink) {
					t.Errorf("%s uses %s", name, sink)
				}
			}
			if strings.Contains(code, "import(") {
				t.Errorf("%s imports dynamically; use a static relative import", name)
			}
			// Imports are relative and unversioned (ui.go revalidates them), and name the
			// same URL everywhere: a second URL would be a second instance of the module.
			for _, m := range importRE.FindAllStringSubmatch(src, -1) {
				imports++
				spec := m[1]
				target := path.Join(path.Dir(name), spec)
				switch {
				case !strings.HasPrefix(spec, "./"), strings.ContainsAny(spec, "?#"):
					t.Errorf("%s imports %q: want a plain ./name.js", name, spec)
				case !known[target]:
					t.Errorf("%s imports %q, which is not under ui/js", name, spec)
				case target == "js/main.js":
					t.Errorf("%s imports main.js, the entry point index.html loads with ?v=", name)
				}
			}
		}
		if imports < len(modules)-1 {
			t.Errorf("found %d imports in %d modules: every module but main.js should be imported", imports, len(modules))
		}
	})

	t.Run("not found and methods", func(t *testing.T) {
		for _, path := range []string{"/ui/nope.js", "/ui/app.js", "/ui/index.html", "/ui/", "/ui/js/", "/ui/js/nope.js", "/ui/../ui.go", "/elsewhere"} {
			resp, body := get(t, http.MethodGet, path)
			if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `"reason":"NotFound"`) {
				t.Errorf("GET %s = %d %s, want a 404 JSON error", path, resp.StatusCode, body)
			}
		}
		resp, _ := get(t, http.MethodPost, "/")
		if resp.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST / = %d, want 405", resp.StatusCode)
		}
	})
}
