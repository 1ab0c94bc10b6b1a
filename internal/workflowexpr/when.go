package workflowexpr

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	celast "github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/ext"
	"k8s.io/utils/lru"
)

// Evaluation bounds, as for a WebhookEndpoint's filter (internal/deliveryexpr): the cost
// limit (about one unit per value visited) is plenty for a condition over a 64 KiB result
// but not for a comprehension nested over one; the deadline catches what the cost model misses.
const (
	CostLimit       = 1_000_000
	EvalTimeout     = 100 * time.Millisecond
	interruptChecks = 100
	cacheSize       = 256
)

// RunVars is what `run` means in a when expression. Phase and FailedSteps are set for
// finally steps only: how the Run's steps ended (Succeeded or Failed) and the failed
// steps' names, comma-separated.
type RunVars struct{ Name, Trigger, Endpoint, DeliveryID, Phase, FailedSteps string }

// StepVars is what steps.<name> means: its phase ("Succeeded", "Skipped", ...) and its result
// (parsed JSON: map[string]any, []any, string, float64, bool, nil; or the raw text when it is
// not JSON; nil when the step wrote none). HasResult distinguishes "no result" from JSON null.
type StepVars struct {
	Phase     string
	Result    any
	HasResult bool
}

// Vars are the variables of a when expression.
type Vars struct {
	Params map[string]string
	Input  any // the Run's input: parsed JSON, or the raw string when not JSON; nil when none
	Run    RunVars
	Steps  map[string]StepVars
}

var env = func() *cel.Env {
	e, err := cel.NewEnv(
		cel.Variable("params", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("input", cel.DynType),
		cel.Variable("run", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("steps", cel.MapType(cel.StringType, cel.DynType)),
		cel.OptionalTypes(),
		ext.Strings(),
	)
	if err != nil {
		panic(err)
	}
	return e
}()

// programs caches compiled expressions by their text: a Workflow's few expressions are
// compiled once per process, not once per reconcile. Bounded so that many Workflows, or
// edits of one, cannot grow it without end.
var programs = lru.New(cacheSize)

// When is a compiled `when` expression (a CEL bool over params, input, steps, run).
type When struct {
	expr  string
	prg   cel.Program
	steps []string
}

// CompileWhen compiles expr. A compile error is one line: the column and what is wrong.
func CompileWhen(expr string) (*When, error) {
	if w, ok := programs.Get(expr); ok {
		return w.(*When), nil
	}
	ast, prg, err := compileBounded(env, "when", "when", "bool", expr, isBool)
	if err != nil {
		return nil, err
	}
	w := &When{expr: expr, prg: prg, steps: stepsRead(ast.NativeRep().Expr())}
	programs.Add(expr, w)
	return w, nil
}

// compileBounded compiles expr in e for what a Workflow field (kind in the compile
// errors, field in the others) expects: a type typeOK accepts (want names it), and a
// program bounded by CostLimit and its interrupt checks. when, forEach and retryOn
// expressions all compile this way.
func compileBounded(e *cel.Env, kind, field, want, expr string, typeOK func(*types.Type) bool) (*cel.Ast, cel.Program, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, nil, fmt.Errorf("%s expression is empty", kind)
	}
	ast, iss := e.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return nil, nil, compileError(kind, iss.Errors())
	}
	if out := ast.OutputType(); !typeOK(out) && !out.IsExactType(types.DynType) {
		return nil, nil, fmt.Errorf("%s must be a %s expression, %q is %s", field, want, expr, out)
	}
	prg, err := e.Program(ast, cel.CostLimit(CostLimit), cel.InterruptCheckFrequency(interruptChecks))
	if err != nil {
		return nil, nil, fmt.Errorf("%s %q: %w", field, expr, err)
	}
	return ast, prg, nil
}

func isBool(t *types.Type) bool { return t.IsExactType(types.BoolType) }

func compileError(kind string, errs []*cel.Error) error {
	msgs := make([]string, 0, len(errs))
	for _, e := range errs {
		msgs = append(msgs, fmt.Sprintf("column %d: %s", e.Location.Column()+1, e.Message))
	}
	return fmt.Errorf("%s expression does not compile: %s", kind, strings.Join(msgs, "; "))
}

// stepsRead lists the names of steps.NAME and steps["NAME"] (and their optional forms
// steps.?NAME, steps[?"NAME"]) in the expression's AST. has(steps.NAME...) is a select too.
func stepsRead(root celast.Expr) []string {
	seen := map[string]bool{}
	isSteps := func(e celast.Expr) bool {
		return e.Kind() == celast.IdentKind && e.AsIdent() == "steps"
	}
	literal := func(e celast.Expr) (string, bool) {
		if e.Kind() != celast.LiteralKind {
			return "", false
		}
		s, ok := e.AsLiteral().Value().(string)
		return s, ok
	}
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			if s := e.AsSelect(); isSteps(s.Operand()) {
				seen[s.FieldName()] = true
			}
		case celast.CallKind:
			c := e.AsCall()
			switch c.FunctionName() {
			case operators.Index, operators.OptIndex, operators.OptSelect:
				if args := c.Args(); len(args) == 2 && isSteps(args[0]) {
					if name, ok := literal(args[1]); ok {
						seen[name] = true
					}
				}
			}
		}
	}))
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Steps lists the step names the expression reads (steps.NAME or steps["NAME"]), sorted.
// A name computed at run time (steps[params.x]) is not listed.
func (w *When) Steps() []string { return append([]string(nil), w.steps...) }

// String is the expression's text.
func (w *When) String() string { return w.expr }

// Eval evaluates the expression over v, bounded by CostLimit and EvalTimeout. A missing
// key or field, or a result that is not a bool, is an error naming the expression.
func (w *When) Eval(ctx context.Context, v Vars) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, EvalTimeout)
	defer cancel()
	out, _, err := w.prg.ContextEval(ctx, activation(v))
	if err != nil {
		if ctx.Err() != nil {
			return false, fmt.Errorf("when %q took longer than %s", w.expr, EvalTimeout)
		}
		return false, fmt.Errorf("when %q: %w", w.expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("when %q gave %s, not a bool", w.expr, out.Type().TypeName())
	}
	return b, nil
}

// EvalWhen compiles (or finds cached) and evaluates expr.
func EvalWhen(ctx context.Context, expr string, v Vars) (bool, error) {
	w, err := CompileWhen(expr)
	if err != nil {
		return false, err
	}
	return w.Eval(ctx, v)
}

func activation(v Vars) map[string]any {
	params := v.Params
	if params == nil {
		params = map[string]string{}
	}
	steps := make(map[string]any, len(v.Steps))
	for name, s := range v.Steps {
		m := map[string]any{"phase": s.Phase}
		if s.HasResult {
			m["result"] = s.Result
		}
		steps[name] = m
	}
	return map[string]any{
		"params": params,
		"input":  v.Input,
		"run":    runMap(v.Run),
		"steps":  steps,
	}
}

// runMap is `run` in CEL: phase and failedSteps only where they are known (a finally
// step), so that a main step reading them fails clearly instead of seeing "".
func runMap(r RunVars) map[string]string {
	m := map[string]string{"name": r.Name, "trigger": r.Trigger, "endpoint": r.Endpoint, "deliveryID": r.DeliveryID}
	if r.Phase != "" {
		m["phase"], m["failedSteps"] = r.Phase, r.FailedSteps
	}
	return m
}
