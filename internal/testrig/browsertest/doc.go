// Package browsertest runs end-to-end browser tests: it finds (or installs) Debian's
// chromium, starts it headless under chromedp with the flags an offline, root-run test
// machine needs, and saves full-page screenshots as test artifacts.
//
// Typical use:
//
//	ctx, _ := browsertest.NewContext(t) // stopped by t.Cleanup
//	if err := chromedp.Do(ctx, chromedp.Navigate(url)); err != nil { ... }
//	browsertest.Screenshot(t, ctx, "01-home")
package browsertest
