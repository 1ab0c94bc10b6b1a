package runengine

import (
	"strings"
	"testing"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

func pending(names ...string) []aiasv1alpha1.StepStatus {
	out := make([]aiasv1alpha1.StepStatus, len(names))
	for i, n := range names {
		out[i] = st(n, aiasv1alpha1.StepPending, 0)
	}
	return out
}

func done(name string, phase aiasv1alpha1.StepPhase, digest string) aiasv1alpha1.StepStatus {
	s := st(name, phase, 1)
	s.OutputDigest = digest
	return s
}

func when(s aiasv1alpha1.WorkflowStep, expr string) aiasv1alpha1.WorkflowStep {
	s.When = expr
	return s
}

func depends(name, expr string) aiasv1alpha1.WorkflowStep {
	return aiasv1alpha1.WorkflowStep{Name: name, Image: "busybox", Depends: expr}
}

func withValues(in Input, v Values) Input { in.Values = v; return in }

func loaded(results map[string]any) Values {
	v := Values{Results: results, Loaded: map[string]bool{}, TooLarge: map[string]int64{}}
	for n := range results {
		v.Loaded[n] = true
	}
	return v
}

// The semantics of when, depends and result references, as a Run meets them.
func TestDecideLanguage(t *testing.T) {
	branchSpec := []aiasv1alpha1.WorkflowStep{
		step("build", []string{}...),
		when(step("deploy-prod", "build"), `steps.build.result.branch == "main"`),
		when(step("deploy-preview", "build"), `steps.build.result.branch != "main"`),
		step("smoke", "deploy-prod"),
		depends("notify", "deploy-prod || deploy-preview"),
	}
	branchSpec[0].DependsOn = []string{}
	cases := []struct {
		name       string
		in         Input
		wantPhases string
		wantStarts []string
		wantNeed   []string
		wantFinish string // "" none, else the phase
		wantMsg    map[string]string
	}{{
		name: "results not loaded yet: the engine asks for them and starts nothing that reads them",
		in: input(branchSpec, []aiasv1alpha1.StepStatus{done("build", aiasv1alpha1.StepSucceeded, "sha256:b"),
			st("deploy-prod", aiasv1alpha1.StepPending, 0), st("deploy-preview", aiasv1alpha1.StepPending, 0), st("smoke", aiasv1alpha1.StepPending, 0), st("notify", aiasv1alpha1.StepPending, 0)}),
		wantPhases: "build=Succeeded deploy-prod=Pending deploy-preview=Pending smoke=Pending notify=Pending",
		wantNeed:   []string{"build", "build"},
	}, {
		name: "when on a parsed result: the main branch deploys, the preview branch is skipped",
		in: withValues(input(branchSpec, []aiasv1alpha1.StepStatus{done("build", aiasv1alpha1.StepSucceeded, "sha256:b"),
			st("deploy-prod", aiasv1alpha1.StepPending, 0), st("deploy-preview", aiasv1alpha1.StepPending, 0), st("smoke", aiasv1alpha1.StepPending, 0), st("notify", aiasv1alpha1.StepPending, 0)}),
			loaded(map[string]any{"build": map[string]any{"branch": "main"}})),
		wantPhases: "build=Succeeded deploy-prod=Running deploy-preview=Skipped smoke=Pending notify=Pending",
		wantStarts: []string{"deploy-prod"},
		wantMsg:    map[string]string{"deploy-preview": `not run: when is false (steps.build.result.branch != "main")`},
	}, {
		name: "a skipped step skips its dependsOn dependents; the depends join runs after the branch that ran",
		in: withValues(input(branchSpec, []aiasv1alpha1.StepStatus{done("build", aiasv1alpha1.StepSucceeded, "sha256:b"),
			st("deploy-prod", aiasv1alpha1.StepPending, 0), st("deploy-preview", aiasv1alpha1.StepPending, 0), st("smoke", aiasv1alpha1.StepPending, 0), st("notify", aiasv1alpha1.StepPending, 0)}),
			loaded(map[string]any{"build": map[string]any{"branch": "feature"}})),
		wantPhases: "build=Succeeded deploy-prod=Skipped deploy-preview=Running smoke=Skipped notify=Pending",
		wantStarts: []string{"deploy-preview"},
		wantMsg:    map[string]string{"smoke": "not run: dependency deploy-prod was skipped"},
	}, {
		name: "the join starts once every step it names has ended",
		in: input(branchSpec, []aiasv1alpha1.StepStatus{done("build", aiasv1alpha1.StepSucceeded, "sha256:b"),
			st("deploy-prod", aiasv1alpha1.StepSkipped, 0), st("deploy-preview", aiasv1alpha1.StepRunning, 1), st("smoke", aiasv1alpha1.StepSkipped, 0), st("notify", aiasv1alpha1.StepPending, 0)},
			succeeded("deploy-preview", 1, t0)),
		wantPhases: "build=Succeeded deploy-prod=Skipped deploy-preview=Succeeded smoke=Skipped notify=Running",
		wantStarts: []string{"notify"},
	}, {
		name: "steps that all succeeded or were skipped: the Run succeeds",
		in: input(branchSpec, []aiasv1alpha1.StepStatus{done("build", aiasv1alpha1.StepSucceeded, "sha256:b"),
			st("deploy-prod", aiasv1alpha1.StepSkipped, 0), st("deploy-preview", aiasv1alpha1.StepSucceeded, 1), st("smoke", aiasv1alpha1.StepSkipped, 0), st("notify", aiasv1alpha1.StepRunning, 1)},
			succeeded("notify", 1, t0)),
		wantPhases: "build=Succeeded deploy-prod=Skipped deploy-preview=Succeeded smoke=Skipped notify=Succeeded",
		wantFinish: "Succeeded",
	}, {
		name: "a join whose expression is false is skipped",
		in: input([]aiasv1alpha1.WorkflowStep{step("a", []string{}...), when(step("b", "a"), "false"), depends("c", "b")},
			[]aiasv1alpha1.StepStatus{done("a", aiasv1alpha1.StepSucceeded, ""), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0)}),
		wantPhases: "a=Succeeded b=Skipped c=Skipped",
		wantFinish: "Succeeded",
		wantMsg:    map[string]string{"c": "not run: depends is false (b)"},
	}, {
		name: "depends on a skipped step by phase runs",
		in: input([]aiasv1alpha1.WorkflowStep{step("a", []string{}...), when(step("b", "a"), "false"), depends("c", "b.Skipped")},
			[]aiasv1alpha1.StepStatus{done("a", aiasv1alpha1.StepSucceeded, ""), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0)}),
		wantPhases: "a=Succeeded b=Skipped c=Running",
		wantStarts: []string{"c"},
	}, {
		name: "when over params, run and input",
		in: withValues(input([]aiasv1alpha1.WorkflowStep{when(step("a", []string{}...), `params.env == "prod" && run.trigger == "Webhook" && input.ref == "refs/heads/main"`)}, pending("a")),
			Values{Params: map[string]string{"env": "prod"}, Run: workflowexpr.RunVars{Trigger: "Webhook"}, Input: map[string]any{"ref": "refs/heads/main"}}),
		wantPhases: "a=Running",
		wantStarts: []string{"a"},
	}, {
		name: "a when that cannot be evaluated fails the step, naming why; the Run fails",
		in: withValues(input([]aiasv1alpha1.WorkflowStep{step("a", []string{}...), when(step("b", "a"), `steps.a.result.missing == 1`)},
			[]aiasv1alpha1.StepStatus{done("a", aiasv1alpha1.StepSucceeded, "sha256:a"), st("b", aiasv1alpha1.StepPending, 0)}),
			loaded(map[string]any{"a": map[string]any{"x": 1.0}})),
		wantPhases: "a=Succeeded b=Failed",
		wantFinish: "Failed",
	}, {
		name: "a reference to a missing field fails the step, naming the reference",
		in: withValues(input([]aiasv1alpha1.WorkflowStep{step("a", []string{}...), {Name: "b", Image: "busybox", Args: []string{"$(steps.a.result.version)"}, DependsOn: []string{"a"}}},
			[]aiasv1alpha1.StepStatus{done("a", aiasv1alpha1.StepSucceeded, "sha256:a"), st("b", aiasv1alpha1.StepPending, 0)}),
			loaded(map[string]any{"a": map[string]any{"x": 1.0}})),
		wantPhases: "a=Succeeded b=Failed",
		wantFinish: "Failed",
		wantMsg:    map[string]string{"b": "$(steps.a.result.version)"},
	}, {
		name: "a result too large to be a value fails a step that references it",
		in: withValues(input([]aiasv1alpha1.WorkflowStep{step("a", []string{}...), {Name: "b", Image: "busybox", Args: []string{"$(steps.a.result)"}, DependsOn: []string{"a"}}},
			[]aiasv1alpha1.StepStatus{done("a", aiasv1alpha1.StepSucceeded, "sha256:a"), st("b", aiasv1alpha1.StepPending, 0)}),
			Values{Loaded: map[string]bool{"a": true}, TooLarge: map[string]int64{"a": 1 << 20}}),
		wantPhases: "a=Succeeded b=Failed",
		wantFinish: "Failed",
		wantMsg:    map[string]string{"b": "the result of step a is 1048576 bytes"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := decideAndCheck(t, tc.in, tc.wantPhases, tc.wantStarts)
			if strings.Join(d.NeedResults, ",") != strings.Join(tc.wantNeed, ",") {
				t.Errorf("need = %v, want %v", d.NeedResults, tc.wantNeed)
			}
			switch {
			case tc.wantFinish == "" && d.Finish != nil:
				t.Errorf("finished %+v", d.Finish)
			case tc.wantFinish != "" && (d.Finish == nil || string(d.Finish.Phase) != tc.wantFinish):
				t.Errorf("finish = %+v, want %s", d.Finish, tc.wantFinish)
			}
			for name, want := range tc.wantMsg {
				if s := stepStatus(d.Steps, name); s == nil || !strings.Contains(s.Message, want) {
					t.Errorf("step %s message = %+v, want it to contain %q", name, s, want)
				}
			}
		})
	}
}

func TestSummaryCountsSkippedByWhen(t *testing.T) {
	steps := []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepSkipped, 0)}
	if got := Summary(steps); got != "1/2 (1 skipped)" {
		t.Errorf("summary = %s", got)
	}
	if f := settle(steps, len(steps)); f == nil || f.Message != "1 of 2 steps succeeded, 1 skipped" {
		t.Errorf("settle = %+v", f)
	}
}

func TestResolveStep(t *testing.T) {
	s := &aiasv1alpha1.WorkflowStep{Name: "deploy", Image: "app:$(steps.build.result.version)", Args: []string{"--v=$(steps.build.result.version)"}}
	got, err := ResolveStep(s, map[string]any{"build": map[string]any{"version": "1.2.3"}}, nil, nil)
	if err != nil || got.Image != "app:1.2.3" || got.Args[0] != "--v=1.2.3" || s.Image != "app:$(steps.build.result.version)" {
		t.Fatalf("ResolveStep = %+v, %v (the frozen step must stay as it was: %s)", got, err, s.Image)
	}
}

// decideAndCheck decides in and checks the steps' phases and the attempts started.
func decideAndCheck(t *testing.T, in Input, wantPhases string, wantStarts []string) Decision {
	t.Helper()
	d := Decide(in)
	if got := phases(d.Steps); got != wantPhases {
		t.Errorf("phases = %s, want %s", got, wantPhases)
	}
	var starts []string
	for _, s := range d.Starts {
		starts = append(starts, s.Step)
	}
	if strings.Join(starts, ",") != strings.Join(wantStarts, ",") {
		t.Errorf("starts = %v, want %v", starts, wantStarts)
	}
	return d
}
