package webhookserver

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestUIHandler(t *testing.T) {
	srv := httptest.NewServer(uiHandler())
	defer srv.Close()
	version := loadUI().version

	get := func(t *testing.T, method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
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
		if strings.Contains(body, uiVersionPlaceholder) || !strings.Contains(body, "/ui/app.js?v="+version) {
			t.Errorf("index.html does not name the asset version %s", version)
		}
		// The CSP forbids inline script: every <script> must load a file.
		for _, tag := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
			if !strings.Contains(tag, "src=") {
				t.Errorf("inline script in index.html: %s", tag)
			}
		}
	})

	t.Run("assets", func(t *testing.T) {
		for path, ct := range map[string]string{
			"/ui/app.js?v=" + version:  "text/javascript; charset=utf-8",
			"/ui/app.css?v=" + version: "text/css; charset=utf-8",
			"/ui/favicon.svg":          "image/svg+xml",
		} {
			resp, body := get(t, http.MethodGet, path)
			if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != ct {
				t.Errorf("GET %s = %d %q, want 200 %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), ct)
			}
			securityHeaders(t, resp)
			// Clusters are offline: no asset may reach for another origin.
			for _, u := range regexp.MustCompile(`https?://[^\s"'<>)]+`).FindAllString(body, -1) {
				if u != "http://www.w3.org/2000/svg" { // an XML namespace name, never fetched
					t.Errorf("%s refers to an external URL %s", path, u)
				}
			}
		}
		resp, _ := get(t, http.MethodGet, "/ui/app.js?v="+version)
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "immutable") {
			t.Errorf("versioned asset Cache-Control = %q, want long-lived", cc)
		}
		resp, _ = get(t, http.MethodGet, "/ui/app.js")
		if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
			t.Errorf("unversioned asset Cache-Control = %q, want no-cache", cc)
		}
	})

	t.Run("not found and methods", func(t *testing.T) {
		for _, path := range []string{"/ui/nope.js", "/ui/index.html", "/ui/", "/ui/../ui.go", "/elsewhere"} {
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
