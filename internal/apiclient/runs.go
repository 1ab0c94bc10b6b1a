package apiclient

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/aias-dev/aias/internal/userapi"
)

// RunFilters narrows ListRuns; zero fields do not filter.
type RunFilters struct {
	Workflow string
	Phase    string
	Endpoint string
	Since    time.Time
	Until    time.Time
}

// ListRuns fetches one page of a namespace's runs, newest first. limit 0 means the
// server's default; cont is the previous page's Continue.
func (c *Client) ListRuns(ctx context.Context, ns string, f RunFilters, limit int, cont string) (*userapi.RunList, error) {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	set("workflow", f.Workflow)
	set("phase", f.Phase)
	set("endpoint", f.Endpoint)
	if !f.Since.IsZero() {
		q.Set("since", f.Since.UTC().Format(time.RFC3339))
	}
	if !f.Until.IsZero() {
		q.Set("until", f.Until.UTC().Format(time.RFC3339))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	set("continue", cont)
	out := &userapi.RunList{}
	return out, c.do(ctx, http.MethodGet, userapi.RunsPath(ns), q, out)
}

// GetRun fetches one Run with its steps, artifacts and, for a replay, the determinism check.
func (c *Client) GetRun(ctx context.Context, ns, run string) (*userapi.RunDetail, error) {
	out := &userapi.RunDetail{}
	return out, c.do(ctx, http.MethodGet, userapi.RunPath(ns, run), nil, out)
}

// Steps fetches a Run's steps in workflow order.
func (c *Client) Steps(ctx context.Context, ns, run string) (*userapi.StepList, error) {
	out := &userapi.StepList{}
	return out, c.do(ctx, http.MethodGet, userapi.StepsPath(ns, run), nil, out)
}

// Replay starts a new Run with the same input as run; the answer names it.
func (c *Client) Replay(ctx context.Context, ns, run string) (*userapi.RunRef, error) {
	out := &userapi.RunRef{}
	return out, c.do(ctx, http.MethodPost, userapi.ReplayPath(ns, run), nil, out)
}

// Resume starts a new Run that resumes run, a Failed or Canceled one: the steps that
// Succeeded in it take its outputs and the others run. A non-empty idempotencyKey makes a
// retried call find the Run the first one made. A Run still running is a 409 NotFinished
// APIError, one that Succeeded a 409 NothingToResume.
func (c *Client) Resume(ctx context.Context, ns, run, idempotencyKey string) (*userapi.RunRef, error) {
	out := &userapi.RunRef{}
	var h http.Header
	if idempotencyKey != "" {
		h = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	return out, c.doWith(ctx, http.MethodPost, userapi.ResumePath(ns, run), nil, nil, h, out)
}

// StartRun starts a manual Run of workflow with req's params and input; a non-empty
// idempotencyKey makes a retried call find the Run the first one made.
func (c *Client) StartRun(ctx context.Context, ns, workflow string, req userapi.StartRun, idempotencyKey string) (*userapi.RunRef, error) {
	out := &userapi.RunRef{}
	var h http.Header
	if idempotencyKey != "" {
		h = http.Header{"Idempotency-Key": {idempotencyKey}}
	}
	return out, c.doWith(ctx, http.MethodPost, userapi.StartRunPath(ns, workflow), nil, req, h, out)
}

// ListDeliveries fetches one page of an endpoint's delivery log, newest first.
func (c *Client) ListDeliveries(ctx context.Context, ns, endpoint string, limit int, cont string) (*userapi.DeliveryList, error) {
	q := url.Values{}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	if cont != "" {
		q.Set("continue", cont)
	}
	out := &userapi.DeliveryList{}
	return out, c.do(ctx, http.MethodGet, userapi.DeliveriesPath(ns, endpoint), q, out)
}

// Redeliver sends a stored delivery of endpoint (its id in the delivery log) through the
// endpoint again; the answer names the Run it started, or says "filtered".
func (c *Client) Redeliver(ctx context.Context, ns, endpoint, id string) (*userapi.RunRef, error) {
	out := &userapi.RunRef{}
	return out, c.do(ctx, http.MethodPost, userapi.RedeliverPath(ns, endpoint, id), nil, out)
}

// Cancel asks the Run controller to stop run; the Run reaches Canceled asynchronously.
func (c *Client) Cancel(ctx context.Context, ns, run string) (*userapi.RunRef, error) {
	out := &userapi.RunRef{}
	return out, c.do(ctx, http.MethodPost, userapi.CancelPath(ns, run), nil, out)
}

// Approve decides an approval gate (step) of run that waits: the steps after it run.
// comment, which may be empty, is kept with the decision. A gate decided already is a
// 409 AlreadyDecided APIError naming who decided it.
func (c *Client) Approve(ctx context.Context, ns, run, step, comment string) (*userapi.Decision, error) {
	out := &userapi.Decision{}
	return out, c.doWith(ctx, http.MethodPost, userapi.ApprovePath(ns, run, step), nil, userapi.DecisionRequest{Comment: comment}, nil, out)
}

// Reject decides an approval gate of run against it: the step fails, as a step whose
// command failed does; comment says why.
func (c *Client) Reject(ctx context.Context, ns, run, step, comment string) (*userapi.Decision, error) {
	out := &userapi.Decision{}
	return out, c.doWith(ctx, http.MethodPost, userapi.RejectPath(ns, run, step), nil, userapi.DecisionRequest{Comment: comment}, nil, out)
}

// WhoAmI tells who the server authenticated the token as.
func (c *Client) WhoAmI(ctx context.Context) (*userapi.WhoAmI, error) {
	out := &userapi.WhoAmI{}
	return out, c.do(ctx, http.MethodGet, userapi.WhoAmIPath(), nil, out)
}
