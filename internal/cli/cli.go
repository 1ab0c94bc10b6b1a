// Package cli dispatches the aias binary's subcommands. Each role of the product is one
// subcommand of one binary, so one image serves every Deployment and the step init container.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/aias-dev/aias/internal/manager"
	"github.com/aias-dev/aias/internal/steprun"
	"github.com/aias-dev/aias/webhookserver"
)

type command struct {
	summary string
	run     func(args []string) int
}

var commands = map[string]command{
	"manager":             {"run the controllers (health, readiness, secured metrics, leader election)", exitOnError("manager", runManager)},
	"webhookserver":       {"serve the public hook listener, the internal step API and metrics", exitOnError("webhookserver", runWebhookServer)},
	"step-run":            {"run a step command as a step pod does (step pods run aias-step's): aias step-run -- <command> [args]", runStep},
	"install-runner":      {"copy this binary to a path, as a step pod's init container does with aias-step", exitOnError("install-runner", installRunner)},
	"step-runtime-driver": {"serve the step runtime to step pods as a CSI volume on this node (the chart's DaemonSet)", exitOnError("step-runtime-driver", runStepRuntimeDriver)},
	"dev":                 {"run AIAS locally: control plane, PostgreSQL, manager, step API, dev kubelet, samples", exitOnError("dev", runDev)},
	"trigger":             {"sign a payload with a WebhookEndpoint's secret and deliver it: aias trigger <endpoint> [-n ns] [--data @file]", exitOnError("trigger", runTrigger)},
	"version":             {"print the version", exitOnError("version", printVersion)},

	// The user commands talk to the user API with a Kubernetes token (see connect.go).
	"runs":       {"list runs: aias runs [-n ns] [--workflow w] [--phase p] [--since 1h] [-o json|yaml]", userCommand("runs", runRuns)},
	"get":        {"describe a run (steps, artifacts, replay check): aias get run <name> [-o json|yaml]", userCommand("get", runGet)},
	"logs":       {"print a run's log lines: aias logs <run> [--step s] [--attempt n] [-f]", userCommand("logs", runLogs)},
	"artifacts":  {"list a run's artifacts, or download one: aias artifacts get <run> <step>/<name> [-o file]", userCommand("artifacts", runArtifacts)},
	"replay":     {"start a new run with a run's input and print its name: aias replay <run>", userCommand("replay", runReplay)},
	"resume":     {"rerun a failed or canceled run from where it failed (steps that succeeded are not run again) and print the new run: aias resume <run>", userCommand("resume", runResume)},
	"cancel":     {"cancel a run: aias cancel <run>", userCommand("cancel", runCancel)},
	"approve":    {"approve a run's approval gate that waits: aias approve <run> <step> [-m comment]", userCommand("approve", runApprove)},
	"reject":     {"reject a run's approval gate that waits: aias reject <run> <step> [-m comment]", userCommand("reject", runReject)},
	"run":        {"start a run of a workflow with parameters and print its name: aias run start <workflow> -p name=value", userCommand("run", runRun)},
	"whoami":     {"show who the user API takes your token for", userCommand("whoami", runWhoAmI)},
	"redeliver":  {"send a stored delivery through its endpoint again and print the run: aias redeliver <endpoint> <id>", userCommand("redeliver", runRedeliver)},
	"deliveries": {"list a webhook endpoint's delivery log: aias deliveries <endpoint> [-n ns] [--all] [-o json|yaml]", userCommand("deliveries", runDeliveries)},
}

// Main runs the subcommand named by args[0] and returns the process exit code.
// Help, asked for as `aias --help`, `aias help [command]` or `aias <command> --help`,
// goes to stdout with exit 0; no command or an unknown one prints the list to stderr and
// exits 2.
func Main(args []string) int {
	if len(args) == 0 {
		mainUsage(os.Stderr)
		return 2
	}
	if isHelp(args[0]) || args[0] == "help" {
		if len(args) > 1 && args[0] == "help" {
			if _, ok := commands[args[1]]; ok {
				return Main([]string{args[1], "--help"}) // aias help <command>
			}
		}
		mainUsage(os.Stdout)
		return 0
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s: unknown command %q\n\n", progName(), args[0])
		mainUsage(os.Stderr)
		return 2
	}
	return cmd.run(args[1:])
}

func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// exitOnError adapts a command that fails with an error; step-run instead returns the
// step command's own exit code. flag.ErrHelp means the help was printed as asked.
func exitOnError(name string, run func([]string) error) func([]string) int {
	return func(args []string) int {
		err := run(args)
		switch {
		case err == nil, errors.Is(err, flag.ErrHelp):
			return 0
		default:
			fmt.Fprintf(os.Stderr, "aias %s: %v\n", name, err)
			return 1
		}
	}
}

func runManager(args []string) error {
	opts, err := manager.ParseFlags(args)
	if err != nil {
		return err
	}
	setMemoryLimit()
	cfg, err := clusterConfig("manager")
	if err != nil {
		return err
	}
	return manager.Run(ctrl.SetupSignalHandler(), cfg, opts)
}

// runStep is step-run, the same code as the step runtime's (cmd/aias-step).
func runStep(args []string) int {
	return steprun.Command(progName(), args, os.Stdout, os.Stderr)
}

func runWebhookServer(args []string) error {
	opts, err := webhookserver.ParseFlags(args)
	if err != nil {
		return err
	}
	setMemoryLimit()
	if opts.PublicAddr != "0" {
		if opts.RestConfig, err = clusterConfig("webhookserver"); err != nil {
			return err
		}
	}
	opts.Log = zap.New()
	ctx := ctrl.SetupSignalHandler()
	return webhookserver.Serve(ctx, opts, func(a webhookserver.Addrs) {
		fmt.Fprintf(os.Stderr, "aias webhookserver: hooks on %s, internal step API on %s, metrics on %s\n", a.Public, a.Internal, a.Metrics)
	})
}

func printVersion(args []string) error {
	pos, err := parseArgs(newFlags("version", "version"), args)
	if err != nil {
		return err
	}
	if err := exactArgs(pos); err != nil {
		return err
	}
	fmt.Println(manager.Version)
	return nil
}
