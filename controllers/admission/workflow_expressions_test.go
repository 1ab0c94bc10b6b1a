package admission

import (
	"strings"
	"testing"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Admission refuses the workflow-language mistakes it can see, naming the field: a when
// that does not compile, a depends that does not parse or names a later step, and reads
// of steps that are not ancestors.
func TestWorkflowExpressionsRefused(t *testing.T) {
	s := func(name string, deps ...string) aiasv1alpha1.WorkflowStep {
		return aiasv1alpha1.WorkflowStep{Name: name, Image: "busybox", Command: []string{"true"}, DependsOn: deps}
	}
	cases := []struct {
		name  string
		steps []aiasv1alpha1.WorkflowStep
		want  string // "" admitted
	}{
		{"valid when, depends and reference", []aiasv1alpha1.WorkflowStep{s("a"), func() aiasv1alpha1.WorkflowStep {
			b := s("b", "a")
			b.When, b.Args = `steps.a.result.ok == true`, []string{"$(steps.a.result.version)"}
			return b
		}(), func() aiasv1alpha1.WorkflowStep {
			c := s("c")
			c.DependsOn, c.Depends = nil, "a.Succeeded || b.Skipped"
			return c
		}()}, ""},
		{"when does not compile", []aiasv1alpha1.WorkflowStep{s("a"), func() aiasv1alpha1.WorkflowStep { b := s("b", "a"); b.When = "steps.a.result =="; return b }()}, "spec.steps[1].when"},
		{"when reads a step that is not an ancestor", []aiasv1alpha1.WorkflowStep{s("a", []string{}...), func() aiasv1alpha1.WorkflowStep {
			b := s("b", []string{}...)
			b.When = `steps.a.phase == "Succeeded"`
			return b
		}()}, "spec.steps[1].when"},
		{"reference to a step that is not an ancestor", []aiasv1alpha1.WorkflowStep{s("a", []string{}...), func() aiasv1alpha1.WorkflowStep {
			b := s("b", []string{}...)
			b.Env = nil
			b.Args = []string{"$(steps.a.result)"}
			return b
		}()}, "spec.steps[1].args[0]"},
		{"depends with Failed", []aiasv1alpha1.WorkflowStep{s("a"), func() aiasv1alpha1.WorkflowStep { b := s("b"); b.Depends = "a.Failed"; return b }()}, "spec.steps[1].depends"},
		{"valid forEach over an ancestor's result with $(item)", []aiasv1alpha1.WorkflowStep{s("a"), func() aiasv1alpha1.WorkflowStep {
			b := s("b", "a")
			b.ForEach, b.Args = "steps.a.result.services", []string{"$(item.name)", "$(item)"}
			return b
		}()}, ""},
		{"forEach does not compile", []aiasv1alpha1.WorkflowStep{s("a"), func() aiasv1alpha1.WorkflowStep { b := s("b", "a"); b.ForEach = "[1, 2"; return b }()}, "spec.steps[1].forEach"},
		{"forEach is not a list", []aiasv1alpha1.WorkflowStep{s("a"), func() aiasv1alpha1.WorkflowStep { b := s("b", "a"); b.ForEach = `"abc"`; return b }()}, "spec.steps[1].forEach"},
		{"forEach reads a step that is not an ancestor", []aiasv1alpha1.WorkflowStep{s("a", []string{}...), func() aiasv1alpha1.WorkflowStep {
			b := s("b", []string{}...)
			b.ForEach = "steps.a.result"
			return b
		}()}, "spec.steps[1].forEach"},
		{"$(item) in a step without forEach", []aiasv1alpha1.WorkflowStep{s("a"), func() aiasv1alpha1.WorkflowStep { b := s("b", "a"); b.Args = []string{"$(item)"}; return b }()}, "spec.steps[1].args[0]"},
		{"depends on a later step", []aiasv1alpha1.WorkflowStep{func() aiasv1alpha1.WorkflowStep { a := s("a"); a.Depends = "b"; return a }(), s("b", []string{}...)}, "spec.steps[0].depends"},
	}
	finals := map[string]aiasv1alpha1.WorkflowStep{}
	finallyCase := func(name string, f aiasv1alpha1.WorkflowStep, want string) {
		cases = append(cases, struct {
			name  string
			steps []aiasv1alpha1.WorkflowStep
			want  string
		}{name, nil, want})
		finals[name] = f
	}
	finallyCase("finally reads every main step", aiasv1alpha1.WorkflowStep{Name: "f", Image: "busybox", Command: []string{"true"},
		When: `steps.a.phase == "Succeeded" && run.phase == "Failed"`, Args: []string{"$(steps.b.result.version)", "$(run.failedSteps)"}}, "")
	finallyCase("finally depends on a main step", aiasv1alpha1.WorkflowStep{Name: "f", Image: "busybox", Command: []string{"true"}, Depends: "a"}, "spec.finally[0].depends")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := aiasv1alpha1.WorkflowSpec{Steps: tc.steps}
			if f, ok := finals[tc.name]; ok {
				spec.Steps = []aiasv1alpha1.WorkflowStep{s("a"), s("b", "a")}
				spec.Finally = []aiasv1alpha1.WorkflowStep{f}
			}
			err := checkParamReferences(&aiasv1alpha1.Workflow{Spec: spec})
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("err = %v, want it to name %s", err, tc.want)
			}
		})
	}
}
