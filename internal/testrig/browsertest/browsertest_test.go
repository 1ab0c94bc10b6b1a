package browsertest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestNewContext starts the browser on a local page, reads it back and saves a screenshot.
func TestNewContext(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><title>browsertest</title><h1 id="hello">hello</h1>`))
	}))
	defer srv.Close()
	t.Setenv("AIAS_TEST_OUTPUT_DIR", t.TempDir())

	ctx, _ := NewContext(t)
	tctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(tctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	text, err := chromedp.Run(tctx, chromedp.Text(chromedp.CSS("#hello")))
	if err != nil || text != "hello" {
		t.Fatalf("text = %q, %v", text, err)
	}
	p := Screenshot(t, tctx, "hello")
	if fi, err := os.Stat(p); err != nil || fi.Size() == 0 {
		t.Fatalf("screenshot %s: %v", p, err)
	}
}
