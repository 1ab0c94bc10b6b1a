package steprun

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/aias-dev/aias/internal/stepjob"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Run executes the step and returns the process exit code. Progress and failures of
// step-run itself go to stderr and to the log API as "system" lines; the input, outputs
// and token never do.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) int {
	c := &client{cfg: cfg, http: &http.Client{Timeout: 5 * time.Minute}, retryFor: 2 * time.Minute}
	logs := newShipper(c)
	shipCtx, stopShipping := context.WithCancel(context.Background())
	go logs.run(shipCtx)
	var failure string    // why the step failed, in a sentence, for the Run's status
	var ran time.Duration // how long the command ran (0 when it never started)
	system := func(format string, a ...any) {
		msg := fmt.Sprintf(format, a...)
		fmt.Fprintln(stderr, "aias step-run: "+msg)
		logs.add(stepjob.StreamSystem, msg)
	}
	fail := func(format string, a ...any) {
		failure = fmt.Sprintf(format, a...)
		system("%s", failure)
	}
	finish := func(code int) int {
		// The outcome goes last: the Run controller reads it once the Job has finished, and
		// by then the logs and artifacts it points to must already be stored.
		stopShipping()
		<-logs.done
		if n := logs.pending(); n > 0 {
			fmt.Fprintf(stderr, "aias step-run: %d log lines could not be delivered\n", n)
		}
		if why := logs.refusal(); why != "" && failure == "" {
			// The run's plan caps its log bytes: a step whose logs were cut off fails,
			// so nobody mistakes a truncated log for a complete one.
			failure = "log lines refused: " + strings.TrimSpace(why)
			fmt.Fprintln(stderr, "aias step-run: "+failure)
			if code == 0 {
				code = ExitDeliveryFailed
			}
		}
		if err := reportOutcome(ctx, c, stepjob.Outcome{ExitCode: &code, Message: outcomeMessage(code, failure), RunSeconds: ran.Seconds()}); err != nil {
			fmt.Fprintf(stderr, "aias step-run: reporting the outcome: %v\n", err)
		}
		return code
	}

	work := cfg.WorkDir
	if work == "" {
		dir, err := os.MkdirTemp("", "aias-step-")
		if err != nil {
			fail("creating work dir: %v", err)
			return finish(ExitInputUnavailable)
		}
		defer os.RemoveAll(dir)
		work = dir
	}
	inputPath := filepath.Join(work, "input")
	if err := fetchInput(ctx, c, inputPath); err != nil {
		fail("fetching the step input: %v", err)
		return finish(ExitInputUnavailable)
	}
	outDir := cfg.OutputDir
	if outDir == "" {
		outDir = filepath.Join(work, "outputs")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		fail("creating output dir: %v", err)
		return finish(ExitInputUnavailable)
	}

	commandStarted := time.Now()
	code, resultPath, err := runCommand(ctx, cfg, logs, inputPath, outDir, work, stdout, stderr)
	ran = time.Since(commandStarted)
	if err != nil {
		fail("%v", err)
		return finish(code)
	}
	if err := uploadOutputs(ctx, c, resultPath, outDir); err != nil {
		fail("delivering outputs: %v", err)
		if code == 0 {
			code = ExitDeliveryFailed
		}
	}
	return finish(code)
}

func fetchInput(ctx context.Context, c *client, path string) error {
	u := c.cfg.stepURL() + stepjob.PathInput
	if len(c.cfg.From) > 0 {
		u += "?from=" + url.QueryEscape(strings.Join(c.cfg.From, ","))
	}
	resp, err := c.do(ctx, func() (*http.Request, error) { return http.NewRequest(http.MethodGet, u, nil) })
	var refused *permanentError
	if errors.As(err, &refused) && refused.status < 500 && refused.status != http.StatusTooManyRequests {
		// The API's sentence (e.g. which dependency's result cannot be merged, and why)
		// becomes the step's failure in the Run's status.
		return fmt.Errorf("%s (%d %s)", refused.message(), refused.status, refused.reason())
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// runCommand starts the command with the input on stdin, ships its output lines, keeps
// its stdout in a file for the result artifact, and forwards SIGTERM/SIGINT to it.
func runCommand(ctx context.Context, cfg Config, logs *shipper, inputPath, outDir, work string, stdout, stderr io.Writer) (int, string, error) {
	in, err := os.Open(inputPath)
	if err != nil {
		return ExitInputUnavailable, "", err
	}
	defer in.Close()
	resultPath := filepath.Join(work, "stdout")
	result, err := os.Create(resultPath)
	if err != nil {
		return ExitInputUnavailable, "", err
	}
	defer result.Close()

	cmd := exec.Command(cfg.Command[0], cfg.Command[1:]...)
	cmd.Stdin = in
	cmd.Env = append(os.Environ(), stepjob.EnvInput+"="+inputPath, stepjob.EnvOutputDir+"="+outDir)
	outPipe, err := cmd.StdoutPipe()
	if err != nil {
		return ExitCommandNotFound, "", err
	}
	errPipe, err := cmd.StderrPipe()
	if err != nil {
		return ExitCommandNotFound, "", err
	}
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(sigs)
	if err := cmd.Start(); err != nil {
		return ExitCommandNotFound, "", fmt.Errorf("starting %s: %w", cfg.Command[0], err)
	}
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	copied := make(chan struct{}, 2)
	go func() {
		logs.copyLines(stepjob.StreamStdout, io.TeeReader(outPipe, result), stdout)
		copied <- struct{}{}
	}()
	go func() { logs.copyLines(stepjob.StreamStderr, errPipe, stderr); copied <- struct{}{} }()
	<-copied
	<-copied
	err = cmd.Wait()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, resultPath, nil
	case errors.As(err, &exitErr):
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), resultPath, nil
		}
		return exitErr.ExitCode(), resultPath, nil
	default:
		return ExitCommandNotFound, "", err
	}
}

// uploadOutputs stores stdout as `result` and every regular file of outDir under its name.
func uploadOutputs(ctx context.Context, c *client, resultPath, outDir string) error {
	if err := upload(ctx, c, stepjob.ResultArtifact, resultPath, resultContentType(resultPath)); err != nil {
		return fmt.Errorf("result: %w", err)
	}
	entries, err := os.ReadDir(outDir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		ct := mime.TypeByExtension(filepath.Ext(e.Name()))
		if ct == "" {
			ct = "application/octet-stream"
		}
		if err := upload(ctx, c, e.Name(), filepath.Join(outDir, e.Name()), ct); err != nil {
			return fmt.Errorf("%s: %w", e.Name(), err)
		}
	}
	return nil
}

// upload streams a file, announcing its digest so the server can verify it.
func upload(ctx context.Context, c *client, name, path, contentType string) error {
	digest, err := fileDigest(path)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, func() (*http.Request, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		req, err := http.NewRequest(http.MethodPut, c.cfg.stepURL()+stepjob.PathArtifacts+url.PathEscape(name), f)
		if err != nil {
			f.Close()
			return nil, err
		}
		req.ContentLength = st.Size()
		req.Header.Set("Content-Type", contentType)
		req.Header.Set(stepjob.DigestHeader, digest)
		return req, nil
	})
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// resultContentType is application/json when stdout is exactly one JSON value, checked
// by streaming tokens so a large stdout is never held in memory.
func resultContentType(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "text/plain"
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	values, depth := 0, 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "text/plain; charset=utf-8"
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				if depth == 0 {
					values++
				}
				depth++
			} else {
				depth--
			}
		} else if depth == 0 {
			values++
		}
	}
	if values == 1 {
		return "application/json"
	}
	return "text/plain; charset=utf-8"
}
