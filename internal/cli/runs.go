package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/aias-dev/aias/internal/apiclient"

	"github.com/aias-dev/aias/internal/userapi"
)

// runsFlags are `aias runs`' flags; `aias get run` takes them too, so `aias get runs`
// lists with the same filters.
type runsFlags struct {
	conn                      connFlags
	output                    string
	workflow, phase, endpoint string
	since                     string
	limit                     int
	all                       bool
}

func (f *runsFlags) register(fs *flag.FlagSet) {
	f.conn.register(fs)
	fs.StringVar(&f.output, "o", "", "output format: json, yaml or name (default: a table)")
	fs.StringVar(&f.output, "output", "", "same as -o")
	fs.StringVar(&f.workflow, "workflow", "", "only runs of this Workflow")
	fs.StringVar(&f.phase, "phase", "", "only runs in this phase (Pending, Queued, Running, Succeeded, Failed, Canceled, Rejected)")
	fs.StringVar(&f.endpoint, "endpoint", "", "only runs started by this WebhookEndpoint")
	fs.StringVar(&f.since, "since", "", "only runs created since a duration ago (1h, 30m) or an RFC 3339 time")
	fs.IntVar(&f.limit, "limit", 0, "at most this many runs (default 50; with --all, the page size)")
	fs.BoolVar(&f.all, "all", false, "every matching run, following the server's pages")
}

const runsSynopsis = "runs [-n namespace] [--workflow w] [--phase p] [--endpoint e] [--since 1h|RFC3339] [--limit N] [--all] [-o json|yaml|name]"

// runRuns is `aias runs`: the namespace's runs, newest first, as a kubectl-style table.
func runRuns(ctx context.Context, args []string) error {
	f := &runsFlags{}
	fs := newFlags("runs", runsSynopsis)
	f.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	return listRuns(ctx, f, os.Stdout)
}

func listRuns(ctx context.Context, f *runsFlags, out io.Writer) error {
	if err := checkOutput(f.output, outputJSON, outputYAML, outputName); err != nil {
		return err
	}
	if f.limit < 0 || f.limit > 500 {
		return usageErrorf("--limit must be between 1 and 500")
	}
	filters := apiclient.RunFilters{Workflow: f.workflow, Phase: f.phase, Endpoint: f.endpoint}
	if f.since != "" {
		t, err := parseSince(f.since, time.Now())
		if err != nil {
			return err
		}
		filters.Since = t
	}
	c, ns, err := f.conn.connect()
	if err != nil {
		return err
	}

	list := &userapi.RunList{Items: []userapi.RunSummary{}}
	cont := ""
	for {
		callCtx, cancel := context.WithTimeout(ctx, callTimeout)
		page, err := c.ListRuns(callCtx, ns, filters, f.limit, cont)
		cancel()
		if err != nil {
			return err
		}
		list.Items = append(list.Items, page.Items...)
		list.Continue = page.Continue
		if !f.all || page.Continue == "" {
			break
		}
		cont = page.Continue
	}

	switch f.output {
	case outputJSON, outputYAML:
		return printDocument(out, f.output, list)
	case outputName:
		for _, r := range list.Items {
			fmt.Fprintf(out, "run/%s\n", r.Name)
		}
		return nil
	}
	if len(list.Items) == 0 {
		fmt.Fprintf(os.Stderr, "No runs found in %s namespace.\n", ns)
		return nil
	}
	if err := printRunsTable(out, list.Items, time.Now()); err != nil {
		return err
	}
	if list.Continue != "" {
		fmt.Fprintf(os.Stderr, "(more runs: add --all, or a larger --limit)\n")
	}
	return nil
}

// callTimeout bounds one API call that is not a stream.
const callTimeout = 30 * time.Second

// printRunsTable prints NAME WORKFLOW PHASE TRIGGER AGE DURATION, as kubectl get would.
func printRunsTable(out io.Writer, runs []userapi.RunSummary, now time.Time) error {
	tw := newTable(out)
	row(tw, "NAME", "WORKFLOW", "PHASE", "TRIGGER", "AGE", "DURATION")
	for _, r := range runs {
		row(tw, r.Name, r.Workflow, r.Phase, trigger(r), age(r.CreatedAt, now),
			span(r.DurationSeconds, r.StartedAt, r.FinishedAt, now))
	}
	return tw.Flush()
}

// trigger names what started a run: "Manual", "Replay", or "Webhook/<endpoint>".
func trigger(r userapi.RunSummary) string {
	if r.Endpoint != "" {
		return r.Trigger + "/" + r.Endpoint
	}
	return r.Trigger
}

// parseSince reads --since: a duration back from now (1h, 90m, 2h30m; a day suffix "d"
// too, as in 7d) or an RFC 3339 time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	d, err := time.ParseDuration(s)
	if days, ok := strings.CutSuffix(s, "d"); ok && err != nil {
		var n int
		if _, scanErr := fmt.Sscanf(days, "%d", &n); scanErr == nil && fmt.Sprint(n) == days {
			d, err = time.Duration(n)*24*time.Hour, nil
		}
	}
	if err != nil || d < 0 {
		return time.Time{}, usageErrorf("--since %q: want a duration (1h, 30m, 7d) or an RFC 3339 time (2026-01-02T15:04:05Z)", s)
	}
	return now.Add(-d), nil
}
