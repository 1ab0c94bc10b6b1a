package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// flags are the Chromium switches the test machines need: they run tests as root (so no
// sandbox) and have no outside network, where background fetches, component updates,
// sync and QUIC probes stall the browser on refused connections.
func flags(exe, userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1280, 900),
	}
}

// NewContext starts a headless Chromium with a fresh profile and returns a chromedp
// context for its first tab. opts are added after the standard flags (so they can
// override them). The browser stops when cancel is called or, at the latest, in
// t.Cleanup; when the test has failed by then, a "failed" screenshot is saved first,
// so prefer leaving the stop to t.Cleanup over `defer cancel()`.
//
// Chromium's own output goes to chromium.log in the test's output directory.
func NewContext(t testing.TB, opts ...chromedp.ExecAllocatorOption) (context.Context, context.CancelFunc) {
	t.Helper()
	exe := Chromium(t)
	profile := t.TempDir()
	// Chromium puts its singleton socket in a fresh directory under $TMPDIR and never
	// removes it: point TMPDIR into the test's temp dir so the test leaves nothing behind.
	all := append(flags(exe, profile), chromedp.Env("TMPDIR="+t.TempDir()))
	all = append(all, opts...)
	var logFile *os.File
	if f, err := os.Create(filepath.Join(OutputDir(t), "chromium.log")); err == nil {
		logFile = f
		all = append(all, chromedp.CombinedOutput(f))
	}

	// No deadline on these contexts: the first action binds the browser's life to its
	// context, so callers put timeouts on contexts derived from the returned one.
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), all...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	var once sync.Once
	cancel := func() {
		once.Do(func() {
			cancelTab()
			cancelAlloc() // waits for the browser process
			// Children such as the zygote can outlive the main process and keep writing
			// in the profile, which t.TempDir's cleanup would then fail to remove.
			killProfileProcesses(profile)
			if logFile != nil {
				_ = logFile.Close()
			}
		})
	}
	t.Cleanup(cancel)
	t.Cleanup(func() { // runs before cancel: cleanups run last-registered first
		if t.Failed() && ctx.Err() == nil {
			sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
			defer scancel()
			if buf, err := capture(sctx); err == nil {
				p := filepath.Join(OutputDir(t), "failed.png")
				if os.WriteFile(p, buf, 0o644) == nil {
					t.Logf("screenshot of the failure: %s", p)
				}
			}
		}
	})
	if err := chromedp.Do(ctx); err != nil { // starts the browser and opens the tab
		cancel()
		t.Fatalf("start %s: %v (see %s)", exe, err, filepath.Join(OutputDir(t), "chromium.log"))
	}
	return ctx, cancel
}

// killProfileProcesses kills processes whose command line names the profile directory,
// until none has been seen for a few passes (a child can fork as its parent dies).
// Linux only; elsewhere /proc is missing and it does nothing.
func killProfileProcesses(profile string) {
	want := []byte("--user-data-dir=" + profile + "\x00")
	deadline := time.Now().Add(3 * time.Second)
	for quiet := 0; quiet < 3 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		entries, err := os.ReadDir("/proc")
		if err != nil {
			return
		}
		found := 0
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil || pid == os.Getpid() {
				continue
			}
			cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
			if err != nil || !strings.Contains(string(cmdline)+"\x00", string(want)) {
				continue
			}
			found++
			if p, err := os.FindProcess(pid); err == nil {
				_ = p.Kill()
			}
		}
		if found == 0 {
			quiet++
		} else {
			quiet = 0
		}
	}
}
