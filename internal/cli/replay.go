package cli

import (
	"context"
	"fmt"
	"strings"
)

// runReplay is `aias replay <run>`: a new Run with the same input (spec.replayOf = run).
// It prints only the new Run's name, so scripts can take it: new=$(aias replay x).
func runReplay(ctx context.Context, args []string) error {
	c, ns, run, err := runAction("replay", args)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ref, err := c.Replay(callCtx, ns, run)
	if err != nil {
		return err
	}
	fmt.Println(ref.Run)
	return nil
}

// runCancel is `aias cancel <run>`: ask the Run controller to stop the Run; it ends
// Canceled once its running step is stopped.
func runCancel(ctx context.Context, args []string) error {
	c, ns, run, err := runAction("cancel", args)
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ref, err := c.Cancel(callCtx, ns, run)
	if err != nil {
		return err
	}
	fmt.Printf("run/%s %s\n", ref.Run, ref.Status)
	return nil
}

// runAction parses `<verb> <run> [connection flags]`.
func runAction(verb string, args []string) (c *apiClient, ns, run string, err error) {
	var conn connFlags
	fs := newFlags(verb, verb+" <run> [-n namespace]")
	conn.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return nil, "", "", err
	}
	if err := exactArgs(pos, "<run>"); err != nil {
		return nil, "", "", err
	}
	run = strings.TrimPrefix(pos[0], "run/")
	c, ns, err = conn.connect()
	return c, ns, run, err
}
