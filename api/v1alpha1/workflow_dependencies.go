package v1alpha1

import "strings"

// StepDependencies returns the steps step i waits for: the names in its depends, else
// its dependsOn when set (an empty list: none), else the previous step (none for the first). The Run controller schedules
// by it and the UI draws the DAG by it, so both read absence the same way.
func (s *WorkflowSpec) StepDependencies(i int) []string {
	if expr := s.Steps[i].Depends; expr != "" {
		return DependsNames(expr)
	}
	if deps := s.Steps[i].DependsOn; deps != nil {
		return deps
	}
	if i == 0 {
		return nil
	}
	return []string{s.Steps[i-1].Name}
}

// DependsNames are the step names a depends expression reads, in order of first
// appearance: its words less the operators and the phase suffixes. (The grammar itself
// is internal/workflowexpr's; admission refuses an expression that does not parse.)
func DependsNames(expr string) []string {
	fields := strings.FieldsFunc(expr, func(r rune) bool {
		return r == '&' || r == '|' || r == '!' || r == '(' || r == ')' || r == ' ' || r == '\t' || r == '\n'
	})
	seen := map[string]bool{}
	var names []string
	for _, f := range fields {
		name, _, _ := strings.Cut(f, ".")
		if name != "" && !seen[name] {
			seen[name] = true
			names = append(names, name)
		}
	}
	return names
}

// RunSteps is the list of steps a Run runs and reports in its status: spec.steps, then
// spec.finally, each finally step's dependencies made explicit (absent: the previous
// finally step, none for the first) so that StepDependencies of the returned spec reads
// them right. main is how many of them are spec.steps. Without finally steps it is s
// itself: callers must not modify it.
func (s *WorkflowSpec) RunSteps() (spec *WorkflowSpec, main int) {
	if len(s.Finally) == 0 {
		return s, len(s.Steps)
	}
	out := s.DeepCopy()
	out.Finally = nil
	for i, f := range s.Finally {
		f := *f.DeepCopy()
		if f.Depends == "" && f.DependsOn == nil {
			f.DependsOn = []string{}
			if i > 0 {
				f.DependsOn = []string{s.Finally[i-1].Name}
			}
		}
		out.Steps = append(out.Steps, f)
	}
	return out, len(s.Steps)
}
