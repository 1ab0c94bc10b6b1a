package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// OutputDir is where a test's screenshots and browser log go:
// $AIAS_TEST_OUTPUT_DIR/<TestName>/ when that variable is set (CI collects it as an
// artifact), else <repo>/_output/screenshots/<TestName>/ (git-ignored). The directory
// is emptied on its first use in a process, so it holds one run's files only.
func OutputDir(t testing.TB) string {
	t.Helper()
	base := os.Getenv("AIAS_TEST_OUTPUT_DIR")
	if base == "" {
		base = filepath.Join(repoRoot(), "_output", "screenshots")
	}
	dir := filepath.Join(base, unsafeChars.ReplaceAllString(t.Name(), "_"))
	if _, loaded := prepared.LoadOrStore(dir, true); !loaded {
		_ = os.RemoveAll(dir)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("test output directory: %v", err)
	}
	return dir
}

var (
	prepared        sync.Map                                  // output directories emptied by this process
	unsafeChars     = regexp.MustCompile(`[^A-Za-z0-9._/-]+`) // subtests keep their "/" as subdirectories
	unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)
)

// repoRoot is the checkout's top directory, found from this file's location.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
}

// Screenshot saves a full-page PNG of the tab as <OutputDir>/<name>.png and returns its
// path. It scrolls the page to the top first: a full-page capture of a scrolled page
// draws sticky headers in the middle. A failure to capture is a test error, not fatal:
// the test can still tell what it checked.
func Screenshot(t testing.TB, ctx context.Context, name string) string {
	t.Helper()
	buf, err := capture(ctx)
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	p := filepath.Join(OutputDir(t), unsafeFileChars.ReplaceAllString(name, "_")+".png")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return ""
	}
	t.Logf("screenshot %s", p)
	return p
}

// capture scrolls to the top and takes a full-page PNG.
func capture(ctx context.Context) ([]byte, error) {
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`)); err != nil {
		return nil, err
	}
	return chromedp.Run(ctx, chromedp.FullScreenshot(100))
}
