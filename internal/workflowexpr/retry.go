package workflowexpr

import (
	"context"
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/ext"
)

// AttemptVars is what `attempt` means in a step's retries.retryOn.expression: the failed
// attempt's number (1 for the first), its command's exit code (-1 when it never exited:
// killed by the cluster, never started), the reason it failed (OOMKilled, Timeout,
// Error, an infrastructure reason such as Evicted, ImagePullFailed, ...), the message
// the Run shows, and how long it ran.
type AttemptVars struct {
	Number          int64
	ExitCode        int64
	Reason, Message string
	DurationSeconds float64
}

var retryEnv = func() *cel.Env {
	e, err := cel.NewEnv(cel.Variable("attempt", cel.MapType(cel.StringType, cel.DynType)), ext.Strings())
	if err != nil {
		panic(err)
	}
	return e
}()

// RetryOn is a compiled retries.retryOn.expression.
type RetryOn struct {
	expr string
	prg  cel.Program
}

// CompileRetryOn compiles expr, a CEL bool over `attempt`. Programs are cached with the
// `when` expressions' (bounded, by text).
func CompileRetryOn(expr string) (*RetryOn, error) {
	key := "retry\x00" + expr
	if r, ok := programs.Get(key); ok {
		return r.(*RetryOn), nil
	}
	_, prg, err := compileBounded(retryEnv, "retries.retryOn", "retries.retryOn.expression", "bool", expr, isBool)
	if err != nil {
		return nil, err
	}
	r := &RetryOn{expr: expr, prg: prg}
	programs.Add(key, r)
	return r, nil
}

// Eval tells whether the attempt is to be retried. An error (a missing key, a type
// mismatch, the cost limit) is returned as such: the caller does not retry and says why.
func (r *RetryOn) Eval(ctx context.Context, a AttemptVars) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, EvalTimeout)
	defer cancel()
	out, _, err := r.prg.ContextEval(ctx, map[string]any{"attempt": map[string]any{
		"number": a.Number, "exitCode": a.ExitCode, "reason": a.Reason, "message": a.Message, "durationSeconds": a.DurationSeconds,
	}})
	if err != nil {
		return false, fmt.Errorf("retries.retryOn.expression %q: %w", r.expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("retries.retryOn.expression %q gave %v, not a bool", r.expr, out.Value())
	}
	return b, nil
}
