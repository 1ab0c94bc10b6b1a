package console

import (
	"fmt"
	"testing"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// The console draws a finally step without dependencies after the steps nothing depends
// on (it runs once they all ended), and keeps every other edge as the spec has it.
func TestDrawnDependencies(t *testing.T) {
	st := func(name string, deps ...string) aiasv1alpha1.WorkflowStep {
		return aiasv1alpha1.WorkflowStep{Name: name, Image: "busybox", Command: []string{"true"}, DependsOn: deps}
	}
	spec := &aiasv1alpha1.WorkflowSpec{
		Steps:   []aiasv1alpha1.WorkflowStep{st("a", []string{}...), st("b", "a"), st("c", "a")},
		Finally: []aiasv1alpha1.WorkflowStep{{Name: "report", Image: "busybox", Command: []string{"true"}}, {Name: "cleanup", Image: "busybox", Command: []string{"true"}}},
	}
	all, main := spec.RunSteps()
	got := fmt.Sprint(drawnDependencies(all, main))
	if want := "[[] [a] [a] [b c] [report]]"; got != want {
		t.Errorf("drawn dependencies %s, want %s", got, want)
	}
}
