package workflowexpr

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func whenVars() Vars {
	return Vars{
		Params: map[string]string{"env": "prod", "replicas": "3"},
		Input:  map[string]any{"ref": "refs/heads/main", "commits": []any{map[string]any{"id": "a"}, map[string]any{"id": "b"}}},
		Run:    RunVars{Name: "deploy-x7k2", Trigger: "webhook", Endpoint: "github", DeliveryID: "d-1"},
		Steps: map[string]StepVars{
			"build":  {Phase: "Succeeded", Result: map[string]any{"version": "1.2.3", "count": float64(3), "ok": true}, HasResult: true},
			"lint":   {Phase: "Skipped"},
			"nil-r":  {Phase: "Succeeded", Result: nil, HasResult: true},
			"text":   {Phase: "Succeeded", Result: "plain words", HasResult: true},
			"test-e": {Phase: "Succeeded", Result: []any{float64(1), float64(2)}, HasResult: true},
		},
	}
}

func TestWhen(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want bool
	}{
		{`params.env == "prod"`, true},
		{`params.env == "dev"`, false},
		{`int(params.replicas) > 2`, true},
		{`input.ref.endsWith("/main")`, true},
		{`size(input.commits) == 2 && input.commits[1].id == "b"`, true},
		{`steps.build.result.version == "1.2.3"`, true},
		{`steps.build.result.version.startsWith("2.")`, false},
		{`steps.build.result.count == 3`, true}, // JSON's double equals CEL's int
		{`steps.build.result.count > 2.5`, true},
		{`steps.build.result.ok`, true},
		{`steps.build.phase == "Succeeded"`, true},
		{`steps.lint.phase == "Skipped"`, true},
		{`has(steps.lint.result)`, false},
		{`has(steps["nil-r"].result)`, true},
		{`steps["nil-r"].result == null`, true},
		{`has(steps.build.result.version)`, true},
		{`has(steps.build.result.missing)`, false},
		{`steps.build.result.?missing.orValue("none") == "none"`, true},
		{`"lint" in steps && !("nope" in steps)`, true},
		{`steps.text.result.contains("words")`, true},
		{`steps["test-e"].result[1] == 2`, true},
		{`run.trigger == "webhook" && run.endpoint == "github" && run.deliveryID == "d-1" && run.name.startsWith("deploy-")`, true},
		{`"prod staging".split(" ").exists(e, e == params.env)`, true}, // ext.Strings
	} {
		got, err := EvalWhen(context.Background(), tc.expr, whenVars())
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got != tc.want {
			t.Errorf("%s = %v, want %v", tc.expr, got, tc.want)
		}
	}
}

func TestWhenEmptyVars(t *testing.T) {
	got, err := EvalWhen(context.Background(), `size(params) == 0 && input == null && run.name == "" && size(steps) == 0`, Vars{})
	if err != nil || !got {
		t.Fatalf("got %v, %v", got, err)
	}
}

func TestWhenErrors(t *testing.T) {
	for _, tc := range []struct {
		expr    string
		compile bool // fails at compile time
		want    []string
	}{
		{`steps.build.result.missing == "x"`, false, []string{`when "steps.build.result.missing == \"x\""`, "no such key: missing"}},
		{`steps.gone.phase == "Succeeded"`, false, []string{`when "steps.gone.phase`, "no such key: gone"}},
		{`params.nope == "x"`, false, []string{"no such key: nope"}},
		{`steps.lint.result == 1`, false, []string{"no such key: result"}},
		{`steps.build.result.version`, false, []string{"gave string, not a bool"}},
		{`params.env`, true, []string{"must be a bool expression", "is string"}},
		{`paramz.env == "x"`, true, []string{"does not compile", "column 1", "undeclared reference to 'paramz'"}},
		{`params.env == `, true, []string{"does not compile", "column"}},
		{`  `, true, []string{"empty"}},
	} {
		w, err := CompileWhen(tc.expr)
		if tc.compile {
			if err == nil {
				t.Errorf("%s: compiled", tc.expr)
				continue
			}
		} else {
			if err != nil {
				t.Errorf("%s: %v", tc.expr, err)
				continue
			}
			_, err = w.Eval(context.Background(), whenVars())
			if err == nil {
				t.Errorf("%s: evaluated", tc.expr)
				continue
			}
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error has several lines: %q", tc.expr, err)
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not say %q", tc.expr, err, w)
			}
		}
	}
}

func TestWhenCostLimit(t *testing.T) {
	// String concatenation costs about a unit per ten bytes, so the limit is reached
	// after about 150 steps, well before the deadline even on a busy machine.
	// params.big is statically a string, so + is priced by size, not as one dynamic call.
	v := Vars{Params: map[string]string{"big": strings.Repeat("x", 32<<10)}, Input: make([]any, 1000)}
	_, err := EvalWhen(context.Background(), `input.all(x, size(params.big + params.big) > 0)`, v)
	if err == nil || !strings.Contains(err.Error(), "cost") {
		t.Fatalf("got %v, want a cost limit error", err)
	}
}

func TestWhenCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	items := make([]any, 2000)
	_, err := EvalWhen(ctx, `input.all(x, input.all(y, true))`, Vars{Input: items})
	if err == nil {
		t.Fatal("evaluated under a canceled context")
	}
}

func TestWhenSteps(t *testing.T) {
	for _, tc := range []struct {
		expr string
		want []string
	}{
		{`params.env == "prod"`, []string{}},
		{`steps.a.phase == "Succeeded"`, []string{"a"}},
		{`steps["b-c"].result.ok`, []string{"b-c"}},
		{`has(steps.d.result) && steps.d.result.x == 1`, []string{"d"}},
		{`steps.z.result.items.exists(i, i.name == steps["y"].result.name) || steps.a.phase == "Skipped"`, []string{"a", "y", "z"}},
		{`steps.?opt.hasValue() && steps[?"opt-2"].hasValue()`, []string{"opt", "opt-2"}},
		{`[steps.a, {"k": steps.b}].size() == 2`, []string{"a", "b"}},
		{`input.steps.notastep == 1`, []string{}}, // a field named steps elsewhere is no step
	} {
		w, err := CompileWhen(tc.expr)
		if err != nil {
			t.Errorf("%s: %v", tc.expr, err)
			continue
		}
		if got := w.Steps(); !reflect.DeepEqual(got, tc.want) && (len(got) != 0 || len(tc.want) != 0) {
			t.Errorf("%s: Steps() = %q, want %q", tc.expr, got, tc.want)
		}
	}
}

func TestWhenCached(t *testing.T) {
	a, err := CompileWhen(`steps.cached.phase == "Succeeded"`)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := CompileWhen(`steps.cached.phase == "Succeeded"`)
	if a != b {
		t.Fatal("second compile of the same text was not cached")
	}
	for i := 0; i < cacheSize+10; i++ {
		if _, err := CompileWhen(`params.x == "` + strings.Repeat("y", i) + `"`); err != nil {
			t.Fatal(err)
		}
	}
	if n := programs.Len(); n > cacheSize {
		t.Fatalf("cache holds %d programs, more than %d", n, cacheSize)
	}
}

func TestParseResult(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want any
	}{
		{`{"a":1}`, map[string]any{"a": float64(1)}},
		{`[true,"x"]`, []any{true, "x"}},
		{`"quoted"`, "quoted"},
		{`null`, nil},
		{`42`, float64(42)},
		{"v1.2.3\n", "v1.2.3\n"},
		{``, ""},
	} {
		got, err := ParseResult([]byte(tc.in))
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseResult(%q) = %#v, %v; want %#v", tc.in, got, err, tc.want)
		}
	}
	if _, err := ParseResult(make([]byte, MaxResultBytes+1)); err == nil {
		t.Error("a result over MaxResultBytes parsed")
	}
	if _, err := ParseResult([]byte(`"` + strings.Repeat("x", MaxResultBytes-2) + `"`)); err != nil {
		t.Errorf("a result of exactly MaxResultBytes: %v", err)
	}
}
