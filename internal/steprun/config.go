// Package steprun is `aias step-run`, the process every step container runs: it fetches
// the step input, runs the step command with it, ships the command's output lines to the
// log API while it runs, uploads stdout and $AIAS_OUTPUT_DIR as artifacts, and exits
// with the command's exit code.
package steprun

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Exit codes of step-run's own failures; the command's own codes pass through unchanged.
const (
	ExitInputUnavailable = 121 // the step input could not be fetched
	ExitDeliveryFailed   = 122 // the command succeeded but its outputs could not be stored
	ExitCommandNotFound  = 127 // as in sh: the command could not be started
)

// Config comes from the environment the Run controller gives the step container.
type Config struct {
	APIURL    string   // AIAS_API_URL: base URL of the internal API
	Token     string   // AIAS_TOKEN: the per-run token
	Namespace string   // AIAS_NAMESPACE
	Run       string   // AIAS_RUN
	Step      string   // AIAS_STEP
	Attempt   int      // AIAS_ATTEMPT
	From      []string // AIAS_FROM: the steps this one depends on (comma-separated)
	OutputDir string   // AIAS_OUTPUT_DIR: every file in it becomes an artifact
	WorkDir   string   // AIAS_WORK_DIR: where the input file is written (default: a temp dir)
	Command   []string
}

// ConfigFromEnv reads the step environment; args are the command after `--`.
func ConfigFromEnv(args []string) (Config, error) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	c := Config{
		APIURL:    strings.TrimRight(os.Getenv("AIAS_API_URL"), "/"),
		Token:     os.Getenv("AIAS_TOKEN"),
		Namespace: os.Getenv("AIAS_NAMESPACE"),
		Run:       os.Getenv("AIAS_RUN"),
		Step:      os.Getenv("AIAS_STEP"),
		OutputDir: os.Getenv("AIAS_OUTPUT_DIR"),
		WorkDir:   os.Getenv("AIAS_WORK_DIR"),
		Command:   args,
	}
	if f := os.Getenv("AIAS_FROM"); f != "" {
		c.From = strings.Split(f, ",")
	}
	var missing []string
	for name, v := range map[string]string{"AIAS_API_URL": c.APIURL, "AIAS_TOKEN": c.Token, "AIAS_NAMESPACE": c.Namespace, "AIAS_RUN": c.Run, "AIAS_STEP": c.Step} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return c, fmt.Errorf("missing environment: %s", strings.Join(missing, ", "))
	}
	attempt, err := strconv.Atoi(os.Getenv("AIAS_ATTEMPT"))
	if err != nil || attempt < 1 {
		return c, errors.New("AIAS_ATTEMPT must be a positive integer")
	}
	c.Attempt = attempt
	if len(c.Command) == 0 {
		return c, errors.New("usage: aias step-run -- <command> [args...]")
	}
	return c, nil
}

func (c Config) stepURL() string {
	return fmt.Sprintf("%s/internal/v1/namespaces/%s/runs/%s/steps/%s/attempts/%d", c.APIURL, c.Namespace, c.Run, c.Step, c.Attempt)
}
