package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/aias-dev/aias/internal/apiclient"

	"github.com/aias-dev/aias/internal/userapi"
)

const logsSynopsis = "logs <run> [-n namespace] [--step s] [--attempt n] [-f]"

// runLogs is `aias logs <run>`: the Run's log lines in time order, each prefixed with its
// step; -f keeps streaming until the Run ends. --step takes a forEach item too
// (`square.3`, as its lines are prefixed); a forEach step's name selects all its items.
func runLogs(ctx context.Context, args []string) error { return printLogs(ctx, args, os.Stdout) }

// printLogs is runLogs writing to out.
func printLogs(ctx context.Context, args []string, out io.Writer) error {
	var conn connFlags
	var q apiclient.LogQuery
	var follow bool
	fs := newFlags("logs", logsSynopsis)
	conn.register(fs)
	fs.StringVar(&q.Step, "step", "", "only this step's lines (a forEach step's item: <step>.<index>)")
	fs.IntVar(&q.Attempt, "attempt", 0, "only this attempt's lines (default: all attempts)")
	fs.BoolVar(&follow, "f", false, "follow: stream new lines until the run ends")
	fs.BoolVar(&follow, "follow", false, "same as -f")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<run>"); err != nil {
		return err
	}
	if q.Attempt < 0 {
		return usageErrorf("--attempt must be positive")
	}
	c, ns, err := conn.connect()
	if err != nil {
		return err
	}
	run := strings.TrimPrefix(pos[0], "run/")
	w := bufio.NewWriter(out)
	defer w.Flush()

	if follow {
		// Flush each line: whoever watches a follow wants it now, not per 4 KiB.
		return c.FollowLogs(ctx, ns, run, q, func(e userapi.LogEntry) error {
			writeLogLine(w, e)
			return w.Flush()
		})
	}
	for {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		page, err := c.Logs(callCtx, ns, run, q)
		cancel()
		if err != nil {
			return err
		}
		for _, e := range page.Items {
			writeLogLine(w, e)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		// The cursor only moves while there are lines after it.
		if len(page.Items) == 0 || page.Cursor == "" || page.Cursor == q.Cursor {
			return nil
		}
		q.Cursor = page.Cursor
	}
}

// writeLogLine prints "[step] line": the attempt joins the prefix from the second one on
// ("[count#2]"), and the stream when it is not stdout ("[parse stderr]").
func writeLogLine(w io.Writer, e userapi.LogEntry) {
	prefix := e.Step
	if e.Attempt > 1 {
		prefix += "#" + strconv.Itoa(e.Attempt)
	}
	if e.Stream != "" && e.Stream != "stdout" {
		prefix += " " + e.Stream
	}
	fmt.Fprintf(w, "[%s] %s\n", prefix, e.Line)
}
