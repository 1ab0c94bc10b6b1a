package cli

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/aias-dev/aias/internal/userapi"
)

const runStartSynopsis = "run start <workflow> [-p name=value ...] [--input text|@file] [--idempotency-key k] [-n namespace]"

// paramFlags collects repeated -p name=value.
type paramFlags map[string]string

func (p paramFlags) String() string { return "" }

func (p paramFlags) Set(v string) error {
	name, value, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=value, got %q", v)
	}
	if _, dup := p[name]; dup {
		return fmt.Errorf("parameter %q given twice", name)
	}
	p[name] = value
	return nil
}

// runRun is `aias run start <workflow> -p k=v`: a manual Run with parameters. It prints
// only the new Run's name, so scripts can take it: r=$(aias run start ci -p branch=main).
func runRun(ctx context.Context, args []string) error {
	if len(args) > 0 && isHelp(args[0]) {
		args = append([]string{"start"}, args...) // start is run's only subcommand
	}
	if len(args) == 0 || args[0] != "start" {
		return usageErrorf("usage: %s %s", progName(), runStartSynopsis)
	}
	var conn connFlags
	params := paramFlags{}
	fs := newFlags("run start", runStartSynopsis)
	conn.register(fs)
	fs.Var(params, "p", "a parameter value, name=value (repeat for more)")
	fs.Var(params, "param", "same as -p")
	input := fs.String("input", "", "the Run's input: text, or @file")
	key := fs.String("idempotency-key", "", "retrying with the same key returns the Run the first call started")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if err := exactArgs(pos, "<workflow>"); err != nil {
		return err
	}
	req := userapi.StartRun{}
	if len(params) > 0 {
		req.Params = params
	}
	if *input != "" {
		text := *input
		if strings.HasPrefix(text, "@") {
			raw, err := os.ReadFile(text[1:])
			if err != nil {
				return err
			}
			text = string(raw)
		}
		req.Input = &text
	}
	c, ns, err := conn.connect()
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	ref, err := c.StartRun(callCtx, ns, strings.TrimPrefix(pos[0], "workflow/"), req, *key)
	if err != nil {
		return err
	}
	fmt.Println(ref.Run)
	return nil
}
