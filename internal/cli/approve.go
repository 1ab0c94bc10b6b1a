package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aias-dev/aias/internal/userapi"
)

// runApprove is `aias approve <run> <step> [-m comment]`: the run's approval gate step
// is approved and the steps after it run.
func runApprove(ctx context.Context, args []string) error {
	return decideGate(ctx, "approve", args, os.Stdout)
}

// runReject is `aias reject <run> <step> [-m comment]`: the gate step fails.
func runReject(ctx context.Context, args []string) error {
	return decideGate(ctx, "reject", args, os.Stdout)
}

// decideGate parses `<verb> <run> <step> [-m comment]`, sends the decision and prints
// what was decided. The comment is optional for both verbs; a rejection reads better
// with one, and the run's step shows it.
func decideGate(ctx context.Context, verb string, args []string, out io.Writer) error {
	var conn connFlags
	fs := newFlags(verb, verb+" <run> <step> [-m comment] [-n namespace]")
	conn.register(fs)
	comment := fs.String("m", "", fmt.Sprintf("a comment kept with the decision and shown with the step (at most %d bytes)", userapi.MaxApprovalComment))
	fs.StringVar(comment, "message", "", "same as -m")
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<run>", "<step>"); err != nil {
		return err
	}
	if len(*comment) > userapi.MaxApprovalComment {
		return usageErrorf("the comment is %d bytes; at most %d", len(*comment), userapi.MaxApprovalComment)
	}
	c, ns, err := conn.connect()
	if err != nil {
		return err
	}
	run, step := strings.TrimPrefix(pos[0], "run/"), pos[1]
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	send := c.Approve
	if verb == "reject" {
		send = c.Reject
	}
	d, err := send(callCtx, ns, run, step, *comment)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "%s step %s of run %s\n", strings.ToLower(d.Decision), d.Step, d.Run)
	return nil
}
