package workflowexpr

import (
	"reflect"
	"testing"
)

func TestValidate(t *testing.T) {
	// build <- test <- deploy; lint alone; notify after deploy and lint.
	base := func() []StepShape {
		return []StepShape{
			{Name: "build", Strings: []FieldString{{"spec.steps[0].image", "golang:1.24"}}},
			{Name: "lint"},
			{Name: "test", DependsOn: []string{"build"}},
			{Name: "deploy", DependsOn: []string{"test"}},
			{Name: "notify", DependsOn: []string{"deploy", "lint"}},
		}
	}
	for _, tc := range []struct {
		name string
		edit func(s []StepShape)
		want []FieldError
	}{
		{"nothing to check", func([]StepShape) {}, nil},
		{"direct and transitive ancestors", func(s []StepShape) {
			s[3].When = `steps.test.phase == "Succeeded" && has(steps.build.result.version)`
			s[4].When = `steps["lint"].phase != "Skipped" || steps.build.result.ok`
			s[4].Strings = []FieldString{
				{"spec.steps[4].args[0]", "$(steps.build.result.version) by $(steps.deploy.result)"},
				{"spec.steps[4].env[0].value", "$(steps.test.result.items.0)"},
			}
		}, nil},
		{"non-ancestor in when", func(s []StepShape) {
			s[2].When = `steps.lint.phase == "Succeeded"`
		}, []FieldError{{"spec.steps[2].when", "steps.lint is not an ancestor of step test; add it to dependsOn"}}},
		{"non-ancestor and later step in a string", func(s []StepShape) {
			s[1].Strings = []FieldString{{"spec.steps[1].args[1]", "x=$(steps.notify.result.x)"}}
		}, []FieldError{{"spec.steps[1].args[1]", "$(steps.notify.result.x): steps.notify is not an ancestor of step lint; add it to dependsOn"}}},
		{"self reference", func(s []StepShape) {
			s[3].When = `steps.deploy.phase == "Running"`
			s[3].Strings = []FieldString{{"spec.steps[3].image", "$(steps.deploy.result)"}}
		}, []FieldError{
			{"spec.steps[3].when", "steps.deploy is step deploy itself; a step cannot read its own phase or result"},
			{"spec.steps[3].image", "$(steps.deploy.result): steps.deploy is step deploy itself; a step cannot read its own phase or result"},
		}},
		{"when does not compile", func(s []StepShape) {
			s[0].When = `params.x == 1`
		}, []FieldError{{"spec.steps[0].when", "when expression does not compile: column 10: found no matching overload for '_==_' applied to '(string, int)'"}}},
		{"malformed reference", func(s []StepShape) {
			s[2].Strings = []FieldString{{"spec.steps[2].args[0]", "$(steps.build.output) $(steps.build.result"}}
		}, []FieldError{
			{"spec.steps[2].args[0]", "$(steps.build.output) is not a step result reference; write $(steps.NAME.result) or $(steps.NAME.result.PATH)"},
			{"spec.steps[2].args[0]", "$(steps.build.result is not a step result reference; write $(steps.NAME.result) or $(steps.NAME.result.PATH)"},
		}},
		{"depends: earlier steps, ancestry from its names", func(s []StepShape) {
			s[4].Depends = "deploy.Ended && !lint.Skipped"
			s[4].When = `steps.test.phase == "Succeeded"`
		}, nil},
		{"depends: not an ancestor says depends", func(s []StepShape) {
			s[2].Depends = "build"
			s[2].When = `steps.lint.phase == "Succeeded"`
		}, []FieldError{{"spec.steps[2].when", "steps.lint is not an ancestor of step test; add it to depends"}}},
		{"depends: unknown, later, self", func(s []StepShape) {
			s[2].Depends = "build && (nope || notify.Ended || test)"
			s[2].DependsOn = []string{"build", "nope", "notify", "test"}
		}, []FieldError{
			{"spec.steps[2].depends", "no step is named nope"},
			{"spec.steps[2].depends", "step notify comes after step test; depends may name earlier steps only"},
			{"spec.steps[2].depends", "step test cannot depend on itself"},
		}},
		{"depends: does not parse", func(s []StepShape) {
			s[3].Depends = "test.Failed"
		}, []FieldError{{"spec.steps[3].depends", "depends: column 6: test.Failed: a depends term can be Succeeded, Skipped or Ended, not Failed; a failed step ends the Run's main steps, and steps that must run after a failure belong in finally"}}},
		{"a cycle is tolerated here", func(s []StepShape) {
			s[0].DependsOn = []string{"deploy"}
			s[0].When = `steps.test.phase == "Succeeded"`
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			steps := base()
			tc.edit(steps)
			if got := Validate("spec.steps", steps); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate =\n%v\nwant\n%v", got, tc.want)
			}
		})
	}
}

func TestFieldError(t *testing.T) {
	if got := (FieldError{"spec.steps[1].when", "bad"}).Error(); got != "spec.steps[1].when: bad" {
		t.Fatal(got)
	}
}
