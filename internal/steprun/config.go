// Package steprun is step-run, the process every step container runs: it fetches the
// step input, runs the step command with it, ships the command's output lines to the log
// API while it runs, uploads stdout and $AIAS_OUTPUT_DIR as artifacts, and exits with
// the command's exit code. Step Pods run it as `aias-step step-run` (cmd/aias-step, the
// small step runtime, which links only this package, internal/stepjob and the standard
// library); `aias step-run` is the same code in the aias binary.
package steprun

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/aias-dev/aias/internal/stepjob"
)

// Exit codes of step-run's own failures; the command's own codes pass through unchanged.
const (
	ExitInputUnavailable = 121 // the step input could not be fetched
	ExitDeliveryFailed   = 122 // the command succeeded but its outputs could not be stored
	ExitCommandNotFound  = 127 // as in sh: the command could not be started
)

// Config comes from the environment the Run controller gives the step container (the
// stepjob.Env* names).
type Config struct {
	APIURL    string   // base URL of the internal API
	Token     string   // the per-run token
	Ticket    string   // the attempt's ticket (stepjob.EnvTicket)
	Namespace string   // the Run's namespace
	Run       string   // the Run's name
	Step      string   // the step's name
	Attempt   int      // from 1
	From      []string // the steps this one depends on
	OutputDir string   // every file in it becomes an artifact
	WorkDir   string   // where the input file is written (default: a temp dir)
	Command   []string
}

// ConfigFromEnv reads the step environment; args are the command after `--`.
func ConfigFromEnv(args []string) (Config, error) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	c := Config{
		APIURL:    strings.TrimRight(os.Getenv(stepjob.EnvAPIURL), "/"),
		Token:     os.Getenv(stepjob.EnvToken),
		Ticket:    os.Getenv(stepjob.EnvTicket),
		Namespace: os.Getenv(stepjob.EnvNamespace),
		Run:       os.Getenv(stepjob.EnvRun),
		Step:      os.Getenv(stepjob.EnvStep),
		OutputDir: os.Getenv(stepjob.EnvOutputDir),
		WorkDir:   os.Getenv(stepjob.EnvWorkDir),
		Command:   args,
	}
	if f := os.Getenv(stepjob.EnvFrom); f != "" {
		c.From = strings.Split(f, ",")
	}
	var missing []string
	for name, v := range map[string]string{stepjob.EnvAPIURL: c.APIURL, stepjob.EnvToken: c.Token, stepjob.EnvNamespace: c.Namespace, stepjob.EnvRun: c.Run, stepjob.EnvStep: c.Step} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}
	attempt, err := strconv.Atoi(os.Getenv(stepjob.EnvAttempt))
	if err != nil || attempt < 1 {
		return c, errors.New(stepjob.EnvAttempt + " must be a positive integer")
	}
	c.Attempt = attempt
	if len(c.Command) == 0 {
		return c, errors.New("no command: step-run -- <command> [args...]")
	}
	return c, nil
}

func (c Config) stepURL() string {
	return c.APIURL + stepjob.AttemptPath(c.Namespace, c.Run, c.Step, c.Attempt)
}
