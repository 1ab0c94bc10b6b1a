package steprun

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/aias-dev/aias/internal/stepjob"
	"net/http"
	"syscall"
)

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

// reportOutcome tells the internal API how the attempt ended. It retries as long as the
// uploads before it do: the Job's status tells success from failure without it, but the
// step's message and run time would be lost to a database outage of half a minute.
func reportOutcome(ctx context.Context, c *client, o stepjob.Outcome) error {
	body, err := json.Marshal(o)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, func() (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPut, c.cfg.stepURL()+stepjob.PathOutcome, bytes.NewReader(body))
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
