package workflowexpr

import (
	"context"
	"reflect"
	"strings"
	"testing"
)

func TestForEach(t *testing.T) {
	vars := Vars{
		Params: map[string]string{"services": "a,b,c"},
		Input:  map[string]any{"targets": []any{map[string]any{"name": "x", "port": 80.0}, "y", true, nil}},
		Steps:  map[string]StepVars{"list": {Phase: "Succeeded", Result: []any{1.0, 2.0}, HasResult: true}},
	}
	for _, tc := range []struct {
		expr    string
		want    []any
		wantErr string
	}{
		{expr: `params.services.split(",")`, want: []any{"a", "b", "c"}},
		{expr: `input.targets`, want: []any{map[string]any{"name": "x", "port": 80.0}, "y", true, nil}},
		{expr: `steps.list.result.map(x, x * 2.0)`, want: []any{2.0, 4.0}},
		{expr: `[1, 2, 3].filter(x, x > 5)`, want: []any{}},
		{expr: `[{"os": "linux"}, {"os": "darwin"}]`, want: []any{map[string]any{"os": "linux"}, map[string]any{"os": "darwin"}}},
		{expr: `input`, wantErr: "not a list"},
		{expr: `"abc"`, wantErr: "must be a list expression"},
		{expr: `steps.list.result +`, wantErr: "forEach expression does not compile"},
	} {
		got, err := EvalForEach(context.Background(), tc.expr, vars)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tc.expr, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.expr, err)
		case !reflect.DeepEqual(got, tc.want):
			t.Errorf("%s = %#v, want %#v", tc.expr, got, tc.want)
		}
	}
}

func TestSubstituteItem(t *testing.T) {
	item := &Item{Value: map[string]any{"name": "api", "port": 8080.0, "tags": []any{"x"}}}
	results := map[string]any{"build": map[string]any{"version": "1.2"}}
	for _, tc := range []struct {
		in, want, wantErr string
		item              *Item
	}{
		{in: "deploy $(item.name):$(item.port) v$(steps.build.result.version)", item: item, want: "deploy api:8080 v1.2"},
		{in: "$(item)", item: item, want: `{"name":"api","port":8080,"tags":["x"]}`},
		{in: "$(item.tags.0)", item: item, want: "x"},
		{in: "$(item.missing)", item: item, wantErr: "the item has no field missing"},
		{in: "$(item)", wantErr: "known in forEach steps only"},
		// One pass: an item holding a reference stays literal.
		{in: "$(item)", item: &Item{Value: "$(steps.build.result.version)"}, want: "$(steps.build.result.version)"},
	} {
		got, err := SubstituteItem(tc.in, results, tc.item)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one containing %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("%s: %v", tc.in, err)
		case got != tc.want:
			t.Errorf("%s = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidateForEach(t *testing.T) {
	steps := []StepShape{
		{Name: "list"},
		{Name: "fan", DependsOn: []string{"list"}, ForEach: "steps.list.result", Strings: []FieldString{{Field: "spec.steps[1].args[0]", Value: "$(item.name)"}}},
		{Name: "bad", DependsOn: []string{"fan"}, ForEach: "steps.other.result +", Strings: []FieldString{{Field: "spec.steps[2].args[0]", Value: "$(item"}}},
		{Name: "plain", DependsOn: []string{"fan"}, Strings: []FieldString{{Field: "spec.steps[3].args[0]", Value: "$(item)"}}},
	}
	var got []string
	for _, e := range Validate("spec.steps", steps) {
		got = append(got, e.Error())
	}
	joined := strings.Join(got, "\n")
	for _, want := range []string{
		"spec.steps[2].forEach: forEach expression does not compile",
		"spec.steps[2].args[0]: $(item is not an item reference",
		"spec.steps[3].args[0]: $(item) is known in forEach steps only; step plain has no forEach",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("missing %q in:\n%s", want, joined)
		}
	}
	if len(got) != 3 {
		t.Errorf("%d errors, want 3:\n%s", len(got), joined)
	}
}
