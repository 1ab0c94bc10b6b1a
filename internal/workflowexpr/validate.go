package workflowexpr

import (
	"fmt"
	"strings"
)

// StepShape is what Validate needs of a step, so that this package depends on no API type.
type StepShape struct {
	Name string
	// DependsOn are the step's dependencies as the spec resolves them
	// (WorkflowSpec.StepDependencies(i)), or the names in Depends when that is set.
	DependsOn []string
	Depends   string        // the step's `depends` expression, "" when none
	When      string        // "" when none
	ForEach   string        // "" when none
	RetryOn   string        // the step's retries.retryOn.expression, "" when none
	Strings   []FieldString // every templated string of the step: image, args[i], env[i].value
}

// FieldString is one templated string and its field path (spec.steps[0].args[1]).
type FieldString struct{ Field, Value string }

// FieldError is one problem with one field.
type FieldError struct{ Field, Message string }

func (e FieldError) Error() string { return e.Field + ": " + e.Message }

// Validate checks, step by step: `when` and `forEach` compile (field PREFIX[i].when, .forEach);
// $(item) appears in forEach steps only; `depends` parses and
// names earlier steps only (PREFIX[i].depends); every steps.NAME a when reads and every
// $(steps.NAME.result...) a string references is an ancestor (a transitive dependency) of
// the step, so that its phase and result are known when the step is decided. fieldPrefix
// is e.g. "spec.steps".
func Validate(fieldPrefix string, steps []StepShape) []FieldError {
	index := make(map[string]int, len(steps))
	for i, s := range steps {
		if _, dup := index[s.Name]; !dup {
			index[s.Name] = i
		}
	}
	var errs []FieldError
	for i, s := range steps {
		field := func(f string) string { return fmt.Sprintf("%s[%d].%s", fieldPrefix, i, f) }
		anc := ancestors(i, steps, index)
		depField := "dependsOn"
		if strings.TrimSpace(s.Depends) != "" {
			depField = "depends"
			errs = append(errs, validateDepends(field("depends"), i, s, index)...)
		}
		notAncestor := func(name string) string {
			if name == s.Name {
				return fmt.Sprintf("steps.%s is step %s itself; a step cannot read its own phase or result", name, s.Name)
			}
			return fmt.Sprintf("steps.%s is not an ancestor of step %s; add it to %s", name, s.Name, depField)
		}
		if strings.TrimSpace(s.When) != "" {
			w, err := CompileWhen(s.When)
			if err != nil {
				errs = append(errs, FieldError{field("when"), err.Error()})
			} else {
				for _, name := range w.Steps() {
					if !anc[name] {
						errs = append(errs, FieldError{field("when"), notAncestor(name)})
					}
				}
			}
		}
		if strings.TrimSpace(s.ForEach) != "" {
			f, err := CompileForEach(s.ForEach)
			if err != nil {
				errs = append(errs, FieldError{field("forEach"), err.Error()})
			} else {
				for _, name := range f.Steps() {
					if !anc[name] {
						errs = append(errs, FieldError{field("forEach"), notAncestor(name)})
					}
				}
			}
		}
		if strings.TrimSpace(s.RetryOn) != "" {
			if _, err := CompileRetryOn(s.RetryOn); err != nil {
				errs = append(errs, FieldError{field("retries.retryOn.expression"), err.Error()})
			}
		}
		for _, fs := range s.Strings {
			for _, bad := range malformedItemRefs(fs.Value) {
				errs = append(errs, FieldError{fs.Field, fmt.Sprintf("%s is not an item reference; write $(item) or $(item.PATH)", bad)})
			}
			if s.ForEach == "" && HasItemRefs(fs.Value) {
				errs = append(errs, FieldError{fs.Field, "$(item) is known in forEach steps only; step " + s.Name + " has no forEach"})
			}
			for _, bad := range malformedRefs(fs.Value) {
				errs = append(errs, FieldError{fs.Field, fmt.Sprintf("%s is not a step result reference; write $(steps.NAME.result) or $(steps.NAME.result.PATH)", bad)})
			}
			for _, r := range Refs(fs.Value) {
				if !anc[r.Step] {
					errs = append(errs, FieldError{fs.Field, r.Text + ": " + notAncestor(r.Step)})
				}
			}
		}
	}
	return errs
}

func validateDepends(field string, i int, s StepShape, index map[string]int) []FieldError {
	d, err := ParseDepends(s.Depends)
	if err != nil {
		return []FieldError{{field, err.Error()}}
	}
	var errs []FieldError
	for _, name := range d.Steps() {
		j, ok := index[name]
		switch {
		case !ok:
			errs = append(errs, FieldError{field, fmt.Sprintf("no step is named %s", name)})
		case name == s.Name:
			errs = append(errs, FieldError{field, fmt.Sprintf("step %s cannot depend on itself", name)})
		case j > i:
			errs = append(errs, FieldError{field, fmt.Sprintf("step %s comes after step %s; depends may name earlier steps only", name, s.Name)})
		}
	}
	return errs
}

// ancestors is the set of steps that step i depends on, directly or transitively.
// Unknown names and cycles (refused elsewhere) are tolerated.
func ancestors(i int, steps []StepShape, index map[string]int) map[string]bool {
	seen := map[string]bool{}
	stack := append([]string(nil), steps[i].DependsOn...)
	for len(stack) > 0 {
		name := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if seen[name] {
			continue
		}
		seen[name] = true
		if j, ok := index[name]; ok {
			stack = append(stack, steps[j].DependsOn...)
		}
	}
	delete(seen, steps[i].Name) // a cycle through the step itself does not make it its own ancestor
	return seen
}
