package v1alpha1

// StepDependencies returns the steps step i waits for: its dependsOn when set (an empty
// list: none), else the previous step (none for the first). The Run controller schedules
// by it and the UI draws the DAG by it, so both read absence the same way.
func (s *WorkflowSpec) StepDependencies(i int) []string {
	if deps := s.Steps[i].DependsOn; deps != nil {
		return deps
	}
	if i == 0 {
		return nil
	}
	return []string{s.Steps[i-1].Name}
}
