package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
)

const resumeSynopsis = "resume <run> [--idempotency-key k] [-n namespace]"

// runResume is `aias resume <run>`: a new Run that resumes a Failed or Canceled one (spec.resumeOf
// = run): the steps that Succeeded there take its outputs, the others run. It prints only
// the new Run's name, so scripts can take it: new=$(aias resume x).
func runResume(ctx context.Context, args []string) error {
	return resumeRun(ctx, args, os.Stdout)
}

// resumeRun parses `resume <run> [--idempotency-key k]`, asks for the resume and prints
// the new Run's name.
func resumeRun(ctx context.Context, args []string, out io.Writer) error {
	var conn connFlags
	fs := newFlags("resume", resumeSynopsis)
	conn.register(fs)
	key := fs.String("idempotency-key", "", "retrying with the same key returns the Run the first call started")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<run>"); err != nil {
		return err
	}
	c, ns, err := conn.connect()
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ref, err := c.Resume(callCtx, ns, strings.TrimPrefix(pos[0], "run/"), *key)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, ref.Run)
	return err
}
