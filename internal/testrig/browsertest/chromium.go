package browsertest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
)

// chromiumCandidates are looked up in order: Debian's package installs /usr/bin/chromium.
var chromiumCandidates = []string{"chromium", "/usr/bin/chromium"}

var chromium struct {
	once sync.Once
	path string
	err  error
}

// Chromium returns the path of the chromium binary. When none is installed it installs
// Debian's chromium package with apt-get, once per test process, printing apt's progress
// to stderr (a cold install takes a minute or two). It fails the test when neither works.
func Chromium(t testing.TB) string {
	t.Helper()
	chromium.once.Do(func() { chromium.path, chromium.err = findOrInstall() })
	if chromium.err != nil {
		t.Fatalf("browser tests need Chromium: %v", chromium.err)
	}
	return chromium.path
}

func findChromium() (string, bool) {
	for _, name := range chromiumCandidates {
		if p, err := exec.LookPath(name); err == nil {
			return p, true
		}
	}
	return "", false
}

func findOrInstall() (string, error) {
	if p, ok := findChromium(); ok {
		return p, nil
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("no chromium in PATH or /usr/bin and no apt-get to install it: install Chromium (Debian package `chromium`)")
	}
	fmt.Fprintln(os.Stderr, "browsertest: chromium is missing; running `apt-get install -y chromium` …")
	if err := aptGet("install", "-y", "chromium"); err != nil {
		// A fresh image has no package lists yet: fetch them and try once more.
		fmt.Fprintln(os.Stderr, "browsertest: install failed; running `apt-get update` and trying again …")
		if uerr := aptGet("update"); uerr != nil {
			return "", fmt.Errorf("`apt-get update` failed (%v) after `apt-get install -y chromium` failed (%v): install Chromium by hand, as root", uerr, err)
		}
		if err := aptGet("install", "-y", "chromium"); err != nil {
			return "", fmt.Errorf("`apt-get install -y chromium` failed: %v: install Chromium by hand, as root", err)
		}
	}
	if p, ok := findChromium(); ok {
		fmt.Fprintln(os.Stderr, "browsertest: installed", p)
		return p, nil
	}
	return "", errors.New("`apt-get install -y chromium` succeeded but no chromium binary is in PATH or /usr/bin")
}

// aptGet runs apt-get non-interactively with its output on stderr, line by line, so a
// slow install shows progress under `go test -v`.
func aptGet(args ...string) error {
	cmd := exec.Command("apt-get", args...)
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			fmt.Fprintln(os.Stderr, "browsertest: apt-get:", sc.Text())
		}
		_, _ = io.Copy(io.Discard, pr) // drain an over-long line so apt-get never blocks
	}()
	err := cmd.Run()
	_ = pw.Close()
	<-done
	return err
}
