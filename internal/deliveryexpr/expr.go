// Package deliveryexpr compiles and evaluates a WebhookEndpoint's CEL filter and params
// over a verified delivery. It is the one home of the expression environment: the
// WebhookEndpoint controller and admission compile with it (so an expression that cannot
// work is refused or reported before any delivery), and the hook listener evaluates with
// it.
package deliveryexpr

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Evaluation bounds. The cost limit is in CEL's cost units (about one per value an
// expression visits): enough for a filter over a large payload, not for a comprehension
// nested over one. The deadline is a second line for what the cost model misses.
const (
	CostLimit       = 1_000_000
	EvalTimeout     = 100 * time.Millisecond
	MaxParamResult  = aiasv1alpha1.MaxParamValueLength
	interruptChecks = 100
)

// hiddenHeaders never reach an expression: they carry signatures or credentials.
var hiddenHeaders = map[string]bool{
	"authorization": true, "proxy-authorization": true, "cookie": true,
	"webhook-signature": true, "x-hub-signature": true, "x-hub-signature-256": true, "stripe-signature": true,
}

var env = func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("body", cel.DynType),
		cel.Variable("headers", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("deliveryID", cel.StringType),
		ext.Strings(), ext.Encoders(), ext.Math(), ext.Lists(),
	)
	if err != nil {
		panic(err)
	}
	return e
}()

// FieldError names the field whose expression failed.
type FieldError struct {
	Field string // spec.filter, spec.params.NAME
	Err   error
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Err.Error() }
func (e *FieldError) Unwrap() error { return e.Err }

// Program is an endpoint's compiled filter and params.
type Program struct {
	filter cel.Program // nil: every delivery passes
	params []namedProgram
	// hidden is the endpoint's own signature header (HMAC scheme), lower-cased.
	hidden string
}

type namedProgram struct {
	name string
	prg  cel.Program
}

// Compile compiles spec's filter and params. The first failing field, in the order
// filter then params by name, is reported as a *FieldError.
func Compile(spec *aiasv1alpha1.WebhookEndpointSpec) (*Program, error) {
	p := &Program{}
	if h := spec.Verification.HMAC; h != nil {
		p.hidden = strings.ToLower(h.Header)
	}
	if strings.TrimSpace(spec.Filter) != "" {
		prg, err := compile(spec.Filter, true)
		if err != nil {
			return nil, &FieldError{Field: "spec.filter", Err: err}
		}
		p.filter = prg
	}
	names := make([]string, 0, len(spec.Params))
	for n := range spec.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		prg, err := compile(spec.Params[n], false)
		if err != nil {
			return nil, &FieldError{Field: "spec.params." + n, Err: err}
		}
		p.params = append(p.params, namedProgram{name: n, prg: prg})
	}
	return p, nil
}

// Empty reports whether the endpoint has neither filter nor params.
func (p *Program) Empty() bool { return p.filter == nil && len(p.params) == 0 }

func compile(expr string, wantBool bool) (cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, fmt.Errorf("%s", strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	out := ast.OutputType()
	if wantBool && !out.IsExactType(types.BoolType) && !out.IsExactType(types.DynType) {
		return nil, fmt.Errorf("must be a bool expression, is %s", out)
	}
	if !wantBool && !(out.IsExactType(types.StringType) || out.IsExactType(types.IntType) || out.IsExactType(types.UintType) ||
		out.IsExactType(types.DoubleType) || out.IsExactType(types.BoolType) || out.IsExactType(types.DynType)) {
		return nil, fmt.Errorf("must give a string, number or bool, gives %s", out)
	}
	return env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(interruptChecks))
}

// Delivery is what expressions see of a verified delivery.
type Delivery struct {
	Body       []byte
	Header     http.Header
	DeliveryID string
}

// Result is an evaluation's outcome.
type Result struct {
	// Passed is false when the filter said no; Params is then nil.
	Passed bool
	Params map[string]string
}

// Evaluate runs the filter, then (when it passed) every param. An error names the field
// and says why, without quoting the payload.
func (p *Program) Evaluate(ctx context.Context, d Delivery) (Result, error) {
	if p.Empty() {
		return Result{Passed: true}, nil
	}
	vars := map[string]any{"body": body(d.Body), "headers": p.headers(d.Header), "deliveryID": d.DeliveryID}
	ctx, cancel := context.WithTimeout(ctx, EvalTimeout)
	defer cancel()
	if p.filter != nil {
		v, err := eval(ctx, p.filter, vars)
		if err != nil {
			return Result{}, &FieldError{Field: "spec.filter", Err: err}
		}
		b, ok := v.Value().(bool)
		if !ok {
			return Result{}, &FieldError{Field: "spec.filter", Err: fmt.Errorf("gave %s, not a bool", v.Type().TypeName())}
		}
		if !b {
			return Result{}, nil
		}
	}
	res := Result{Passed: true}
	for _, np := range p.params {
		v, err := eval(ctx, np.prg, vars)
		if err != nil {
			return Result{}, &FieldError{Field: "spec.params." + np.name, Err: err}
		}
		s, err := text(v)
		if err != nil {
			return Result{}, &FieldError{Field: "spec.params." + np.name, Err: err}
		}
		if res.Params == nil {
			res.Params = make(map[string]string, len(p.params))
		}
		res.Params[np.name] = s
	}
	return res, nil
}

func eval(ctx context.Context, prg cel.Program, vars map[string]any) (ref.Val, error) {
	v, _, err := prg.ContextEval(ctx, vars)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("took longer than %s", EvalTimeout)
		}
		return nil, err
	}
	return v, nil
}

func text(v ref.Val) (string, error) { return Text(v, MaxParamResult) }

// Text turns a CEL result into parameter text: strings as they are, numbers and bools
// formatted, anything else (a list, a map) an error; at most max bytes.
func Text(v ref.Val, max int) (string, error) {
	var s string
	switch x := v.Value().(type) {
	case string:
		s = x
	case bool:
		s = strconv.FormatBool(x)
	case int64:
		s = strconv.FormatInt(x, 10)
	case uint64:
		s = strconv.FormatUint(x, 10)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	default:
		return "", fmt.Errorf("gave %s, not a string, number or bool", v.Type().TypeName())
	}
	if len(s) > max {
		return "", fmt.Errorf("gave %d bytes, more than the %d allowed", len(s), max)
	}
	return s, nil
}

// body is the parsed JSON when the body is JSON, else its text.
func body(b []byte) any {
	var v any
	if err := json.Unmarshal(b, &v); err == nil {
		return v
	}
	return string(b)
}

func (p *Program) headers(h http.Header) map[string]string { return visibleHeaders(h, p.hidden) }

// VisibleHeaders is what expressions see of a delivery's headers under spec: lower-cased
// names, repeated values joined, no signature or credential. The delivery log keeps
// exactly these for a redelivery.
func VisibleHeaders(spec *aiasv1alpha1.WebhookEndpointSpec, h http.Header) map[string]string {
	hidden := ""
	if v := spec.Verification.HMAC; v != nil {
		hidden = strings.ToLower(v.Header)
	}
	return visibleHeaders(h, hidden)
}

func visibleHeaders(h http.Header, hidden string) map[string]string {
	out := make(map[string]string, len(h))
	for k, vs := range h {
		lk := strings.ToLower(k)
		if hiddenHeaders[lk] || lk == hidden {
			continue
		}
		out[lk] = strings.Join(vs, ", ")
	}
	return out
}

// HeaderOf turns stored visible headers back into an http.Header for Evaluate.
func HeaderOf(m map[string]string) http.Header {
	h := make(http.Header, len(m))
	for k, v := range m {
		h[k] = []string{v}
	}
	return h
}
