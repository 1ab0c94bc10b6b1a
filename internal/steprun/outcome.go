package steprun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"syscall"
	"time"
)

// Outcome is what step-run reports when it is done: the exit code it exits with and,
// when the step failed, why. The Run controller puts both in the Run's step status.
type Outcome struct {
	ExitCode int    `json:"exitCode"`
	Message  string `json:"message,omitempty"`
	// RunSeconds is how long the command ran, by step-run's monotonic clock: finer than
	// the second-granular times of the Job and the Run status (0 when it never started).
	RunSeconds float64 `json:"runSeconds,omitempty"`
}

// outcomeMessage explains an exit code; failure, when set, is step-run's own reason.
func outcomeMessage(code int, failure string) string {
	switch {
	case failure != "":
		return failure
	case code == 0:
		return ""
	case code > 128 && code < 128+65:
		return fmt.Sprintf("command terminated by signal %s", syscall.Signal(code-128))
	default:
		return fmt.Sprintf("command exited with code %d", code)
	}
}

// reportOutcome tells the internal API how the attempt ended. It retries for a short
// while only: the Job's own status still tells success from failure without it.
func reportOutcome(ctx context.Context, c *client, o Outcome) error {
	body, err := json.Marshal(o)
	if err != nil {
		return err
	}
	short := *c
	short.retryFor = 30 * time.Second
	resp, err := short.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, c.cfg.stepURL()+"/outcome", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return req, err
	})
	if err != nil {
		return err
	}
	return resp.Body.Close()
}
