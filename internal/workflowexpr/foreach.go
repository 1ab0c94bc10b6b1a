package workflowexpr

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/utils/lru"
)

// ForEach is a compiled `forEach` expression: a CEL list over the same variables as
// `when` (params, input, run, steps).
type ForEach struct {
	expr  string
	prg   cel.Program
	steps []string
}

// forEachPrograms caches compiled forEach expressions, as programs does for when.
var forEachPrograms = lru.New(cacheSize)

// CompileForEach compiles expr. Its type must be a list (or dyn: input and results are
// known at run time only).
func CompileForEach(expr string) (*ForEach, error) {
	if f, ok := forEachPrograms.Get(expr); ok {
		return f.(*ForEach), nil
	}
	isList := func(t *types.Type) bool { return t.Kind() == types.ListKind }
	ast, prg, err := compileBounded(env, "forEach", "forEach", "list", expr, isList)
	if err != nil {
		return nil, err
	}
	f := &ForEach{expr: expr, prg: prg, steps: stepsRead(ast.NativeRep().Expr())}
	forEachPrograms.Add(expr, f)
	return f, nil
}

// Steps lists the step names the expression reads, sorted (see When.Steps).
func (f *ForEach) Steps() []string { return append([]string(nil), f.steps...) }

// Eval evaluates the expression over v, bounded as a when is, and returns the list's
// items as JSON values (map[string]any, []any, string, float64, bool, nil). A result that
// is not a list, or holds what JSON cannot (bytes, durations), is an error naming the
// expression.
func (f *ForEach) Eval(ctx context.Context, v Vars) ([]any, error) {
	ctx, cancel := context.WithTimeout(ctx, EvalTimeout)
	defer cancel()
	out, _, err := f.prg.ContextEval(ctx, activation(v))
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("forEach %q took longer than %s", f.expr, EvalTimeout)
		}
		return nil, fmt.Errorf("forEach %q: %w", f.expr, err)
	}
	if out.Type() != types.ListType {
		return nil, fmt.Errorf("forEach %q gave %s, not a list", f.expr, out.Type().TypeName())
	}
	native, err := out.ConvertToNative(reflect.TypeOf(&structpb.ListValue{}))
	if err != nil {
		return nil, fmt.Errorf("forEach %q: its items are not JSON values: %w", f.expr, err)
	}
	raw, err := protojson.Marshal(native.(*structpb.ListValue))
	if err != nil {
		return nil, fmt.Errorf("forEach %q: %w", f.expr, err)
	}
	var items []any
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, fmt.Errorf("forEach %q: %w", f.expr, err)
	}
	if items == nil {
		items = []any{}
	}
	return items, nil
}

// EvalForEach compiles (or finds cached) and evaluates expr.
func EvalForEach(ctx context.Context, expr string, v Vars) ([]any, error) {
	f, err := CompileForEach(expr)
	if err != nil {
		return nil, err
	}
	return f.Eval(ctx, v)
}

// ItemJSON is an item as $AIAS_ITEM carries it: compact JSON.
func ItemJSON(item any) (string, error) {
	b, err := json.Marshal(item)
	return string(b), err
}

// EvalValue evaluates a CEL expression of any type over v (a step cache's key), bounded
// as a when is, and returns its value as JSON.
func EvalValue(ctx context.Context, expr string, v Vars) (json.RawMessage, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, compileError("key", iss.Errors())
	}
	prg, err := env.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(interruptChecks))
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", expr, err)
	}
	ctx, cancel := context.WithTimeout(ctx, EvalTimeout)
	defer cancel()
	out, _, err := prg.ContextEval(ctx, activation(v))
	if err != nil {
		return nil, fmt.Errorf("key %q: %w", expr, err)
	}
	native, err := out.ConvertToNative(reflect.TypeOf(&structpb.Value{}))
	if err != nil {
		return nil, fmt.Errorf("key %q: its value is not JSON: %w", expr, err)
	}
	return protojson.Marshal(native.(*structpb.Value))
}
