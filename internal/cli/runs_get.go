package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/aias-dev/aias/internal/userapi"
)

const getSynopsis = "get run <name> [-n namespace] [-o json|yaml]   (get runs: the same as `runs`)"

// runGet is `aias get run <name>`: a describe-like view of one Run. Without a name (or
// with "runs") it lists, as `kubectl get` does.
func runGet(ctx context.Context, args []string) error {
	f := &runsFlags{}
	fs := newFlags("get", getSynopsis)
	f.register(fs)
	pos, err := parseArgs(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErrorf("missing the resource type: run")
	}
	// Accept kubectl's spellings: run, runs, run.aias.dev, run/<name>.
	kind, name, _ := strings.Cut(pos[0], "/")
	kind, _, _ = strings.Cut(kind, ".")
	if kind != "run" && kind != "runs" {
		return usageErrorf("unknown resource type %q: this command knows runs only (use kubectl for the others)", pos[0])
	}
	rest := pos[1:]
	if name == "" && len(rest) > 0 {
		name, rest = rest[0], rest[1:]
	}
	if err := exactArgs(rest); err != nil {
		return err
	}
	if name == "" {
		return listRuns(ctx, f, os.Stdout)
	}
	if err := checkOutput(f.output, outputJSON, outputYAML); err != nil {
		return err
	}
	c, ns, err := f.conn.connect()
	if err != nil {
		return err
	}
	callCtx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	run, err := c.GetRun(callCtx, ns, name)
	if err != nil {
		return err
	}
	if f.output != outputTable {
		return printDocument(os.Stdout, f.output, run)
	}
	return describeRun(os.Stdout, run, time.Now())
}

// describeRun prints a Run the way kubectl describe prints an object: aligned fields,
// then its steps, artifacts and, for a replay, the determinism check.
func describeRun(out io.Writer, r *userapi.RunDetail, now time.Time) error {
	tw := newTable(out)
	field := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s:\t%s\n", k, v)
		}
	}
	field("Name", r.Name)
	field("Namespace", r.Namespace)
	field("Workflow", r.Workflow)
	field("Phase", r.Phase)
	field("Reason", r.Reason)
	field("Message", r.Message)
	if r.Cancel {
		field("Cancel", "requested")
	}
	field("Trigger", r.Trigger)
	field("Endpoint", r.Endpoint)
	field("Delivery ID", r.DeliveryID)
	field("Replay Of", r.ReplayOf)
	field("Resume Of", r.ResumeOf)
	field("Created", timestamp(&r.CreatedAt, now))
	field("Started", timestamp(r.StartedAt, now))
	field("Finished", timestamp(r.FinishedAt, now))
	field("Duration", span(r.DurationSeconds, r.StartedAt, r.FinishedAt, now))
	field("Spec Digest", r.SpecDigest)
	field("Input Digest", r.InputDigest)
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintln(out, "\nSteps:")
	if len(r.Steps) == 0 {
		fmt.Fprintln(out, "  <none>")
	} else if err := stepsTable(out, r.Steps, now); err != nil {
		return err
	}

	if err := waitingGates(out, r); err != nil {
		return err
	}

	fmt.Fprintln(out, "\nArtifacts:")
	if len(r.Artifacts) == 0 {
		fmt.Fprintln(out, "  <none>")
	} else if err := artifactsTable(indent(out), r.Artifacts, now); err != nil {
		return err
	}

	if rc := r.Replay; rc != nil {
		same := "yes"
		if !rc.SameSpec {
			same = "no (the Workflow changed since the original ran)"
		}
		fmt.Fprintf(out, "\nDeterminism check (replay of %s):\n", rc.Of)
		tw := newTable(indent(out))
		row(tw, "STEP", "ORIGINAL", "REPLAY", "MATCH")
		for _, s := range rc.Steps {
			row(tw, s.Name, shortDigest(s.Original), shortDigest(s.Replay), s.Match)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(out, "  Same workflow spec: %s\n  Verdict: %s\n", same, rc.Verdict)
	}
	return nil
}

// stepsTable prints STEP PHASE ATTEMPTS EXIT DURATION MESSAGE, indented under "Steps:".
// A forEach step's items run its attempts: its row counts them by phase instead (their
// logs are `aias logs <run> --step <step>.<index>`; -o json lists each). A cached step's
// message names the attempt it took its outputs from.
func stepsTable(out io.Writer, steps []userapi.Step, now time.Time) error {
	tw := newTable(indent(out))
	row(tw, "STEP", "PHASE", "ATTEMPTS", "EXIT", "DURATION", "MESSAGE")
	for _, s := range steps {
		exit := ""
		if s.ExitCode != nil {
			exit = strconv.Itoa(int(*s.ExitCode))
		}
		secs := s.DurationSeconds
		if s.RunSeconds != nil && s.Attempts <= 1 {
			secs = s.RunSeconds // the command's own time, to the millisecond (status times have whole seconds)
		}
		attempts, message := strconv.Itoa(int(s.Attempts)), cachedMessage(s)
		if items := itemsSummary(s); items != "" {
			attempts = ""
			message = strings.TrimSuffix(items+"; "+message, "; ")
		}
		row(tw, s.Name, s.Phase, attempts, exit, span(secs, s.StartTime, s.CompletionTime, now), message)
	}
	return tw.Flush()
}

// cachedMessage is a step's message, led for a cached step (one that took an earlier
// attempt's outputs instead of running) by "cached from <run>/<step>", unless the message
// says so already.
func cachedMessage(s userapi.Step) string {
	c := s.CachedFrom
	if c == nil || strings.HasPrefix(s.Message, "cached from ") {
		return s.Message
	}
	note := "cached from " + c.Run + "/" + c.Step
	if c.Attempt > 1 {
		note += " (attempt " + strconv.Itoa(int(c.Attempt)) + ")"
	}
	return strings.TrimSuffix(note+"; "+s.Message, "; ")
}

// waitingGates lists the Run's approval gates that wait for a decision (what each asks,
// who may decide, until when) and the commands that decide them.
func waitingGates(out io.Writer, r *userapi.RunDetail) error {
	var waiting []userapi.Step
	for _, s := range r.Steps {
		if s.Phase == "Waiting" {
			waiting = append(waiting, s)
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	fmt.Fprintln(out, "\nWaiting for approval:")
	tw := newTable(indent(out))
	row(tw, "STEP", "QUESTION", "APPROVERS", "UNTIL")
	for _, s := range waiting {
		question, approvers, until := strings.TrimPrefix(s.Message, "waiting for approval: "), "", ""
		if s.Message == "waiting for approval" {
			question = ""
		}
		if g := s.Gate; g != nil {
			names := make([]string, len(g.Approvers))
			for i, a := range g.Approvers {
				names[i] = a.Kind + " " + a.Name
			}
			approvers = strings.Join(names, ", ")
			if g.Deadline != nil {
				until = g.Deadline.UTC().Format(time.RFC3339) + " (then " + strings.ToLower(g.OnTimeout) + ")"
			}
		}
		if approvers == "" {
			approvers = "anyone allowed"
		}
		row(tw, s.Name, question, approvers, until)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(out, "  Decide: %s approve|reject %s <step> -n %s [-m comment]\n", progName(), r.Name, r.Namespace)
	return err
}

// indent prefixes every line with two spaces, for tables nested under a heading.
func indent(w io.Writer) io.Writer { return &indenter{w: w, bol: true} }

type indenter struct {
	w   io.Writer
	bol bool
}

func (i *indenter) Write(p []byte) (int, error) {
	var b []byte
	for _, c := range p {
		if i.bol {
			b = append(b, ' ', ' ')
		}
		b = append(b, c)
		i.bol = c == '\n'
	}
	if _, err := i.w.Write(b); err != nil {
		return 0, err
	}
	return len(p), nil
}
