package workflowexpr

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseDepends(t *testing.T) {
	for _, tc := range []struct {
		in, canonical string
		steps         []string
	}{
		{"build", "build", []string{"build"}},
		{"build.Succeeded", "build.Succeeded", []string{"build"}},
		{"  a&&b ", "a && b", []string{"a", "b"}},
		{"a || b && c", "a || b && c", []string{"a", "b", "c"}},
		{"(a || b) && c", "(a || b) && c", []string{"a", "b", "c"}},
		{"((a))", "a", []string{"a"}},
		{"!lint.Skipped && test-e2e.Ended", "!lint.Skipped && test-e2e.Ended", []string{"lint", "test-e2e"}},
		{"!(a && b)", "!(a && b)", []string{"a", "b"}},
		{"!!a", "!!a", []string{"a"}},
		{"a && a.Skipped || 9lives", "a && a.Skipped || 9lives", []string{"9lives", "a"}},
	} {
		d, err := ParseDepends(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got := d.String(); got != tc.canonical {
			t.Errorf("%q: String() = %q, want %q", tc.in, got, tc.canonical)
		}
		if got := d.Steps(); !reflect.DeepEqual(got, tc.steps) {
			t.Errorf("%q: Steps() = %q, want %q", tc.in, got, tc.steps)
		}
		again, err := ParseDepends(d.String())
		if err != nil || again.String() != d.String() {
			t.Errorf("%q: String() does not parse back: %v", tc.in, err)
		}
	}
}

func TestParseDependsErrors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{"", []string{"empty"}},
		{"   ", []string{"empty"}},
		{"build.Failed", []string{"column 7", "not Failed", "finally"}},
		{"build.Running", []string{"column 7", `unknown phase "Running"`, "Succeeded, Skipped or Ended"}},
		{"build.", []string{"column 7", "end of expression"}},
		{"(a && b", []string{"column 8", `close the "(" at column 1`, "end of expression"}},
		{"a && b)", []string{"column 7", `unexpected ")"`}},
		{"a &&", []string{"column 5", "expected a step name", "end of expression"}},
		{"a & b", []string{"column 3", `unexpected '&'`}},
		{"a b", []string{"column 3", `unexpected "b"`}},
		{"Build", []string{"column 1", `"Build" is not a step name`}},
		{"a_b", []string{`"a_b" is not a step name`}},
		{"-a", []string{`"-a" is not a step name`}},
		{"a || ()", []string{"column 7", `found ")"`}},
		{"a.Skipped.Ended", []string{"column 10", `unexpected "."`}},
	} {
		_, err := ParseDepends(tc.in)
		if err == nil {
			t.Errorf("%q parsed", tc.in)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: error %q does not say %q", tc.in, err, w)
			}
		}
	}
}

func TestDependsEval(t *testing.T) {
	phases := []string{"Succeeded", "Skipped", "Failed", "Canceled", "Running", "Pending"}
	single := map[string]map[string]bool{ // term -> phase -> holds
		"a":           {"Succeeded": true},
		"a.Succeeded": {"Succeeded": true},
		"a.Skipped":   {"Skipped": true},
		"a.Ended":     {"Succeeded": true, "Skipped": true},
		"!a":          {"Skipped": true, "Failed": true, "Canceled": true, "Running": true, "Pending": true},
		"!a.Ended":    {"Failed": true, "Canceled": true, "Running": true, "Pending": true},
	}
	for expr, holds := range single {
		d, err := ParseDepends(expr)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range phases {
			if got := d.Eval(func(string) string { return p }); got != holds[p] {
				t.Errorf("%s with a %s = %v, want %v", expr, p, got, holds[p])
			}
		}
	}

	// Truth tables over two and three steps: S succeeded, K skipped.
	for _, tc := range []struct {
		expr  string
		phase map[string]string
		want  bool
	}{
		{"a && b", map[string]string{"a": "Succeeded", "b": "Succeeded"}, true},
		{"a && b", map[string]string{"a": "Succeeded", "b": "Skipped"}, false},
		{"a || b", map[string]string{"a": "Skipped", "b": "Succeeded"}, true},
		{"a || b", map[string]string{"a": "Skipped", "b": "Skipped"}, false},
		{"a || b && c", map[string]string{"a": "Succeeded", "b": "Skipped", "c": "Skipped"}, true},
		{"(a || b) && c", map[string]string{"a": "Succeeded", "b": "Skipped", "c": "Skipped"}, false},
		{"(a || b) && c", map[string]string{"a": "Skipped", "b": "Succeeded", "c": "Succeeded"}, true},
		{"a.Ended && !b.Skipped", map[string]string{"a": "Skipped", "b": "Succeeded"}, true},
		{"a.Ended && !b.Skipped", map[string]string{"a": "Skipped", "b": "Skipped"}, false},
		{"a.Skipped || b", map[string]string{"a": "Succeeded", "b": "Skipped"}, false},
	} {
		d, err := ParseDepends(tc.expr)
		if err != nil {
			t.Fatal(err)
		}
		if got := d.Eval(func(s string) string { return tc.phase[s] }); got != tc.want {
			t.Errorf("%s with %v = %v, want %v", tc.expr, tc.phase, got, tc.want)
		}
	}
}
