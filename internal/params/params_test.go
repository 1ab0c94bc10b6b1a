package params

import (
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

var declared = []aiasv1alpha1.WorkflowParam{
	{Name: "branch", Required: true},
	{Name: "env", Default: ptr.To("staging"), Enum: []string{"staging", "prod"}},
	{Name: "note"},
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name      string
		given     map[string]string
		want      map[string]string
		wantParam string
	}{
		{"defaults", map[string]string{"branch": "main"}, map[string]string{"branch": "main", "env": "staging", "note": ""}, ""},
		{"all given", map[string]string{"branch": "dev", "env": "prod", "note": "x"}, map[string]string{"branch": "dev", "env": "prod", "note": "x"}, ""},
		{"missing required", map[string]string{"env": "prod"}, nil, "branch"},
		{"outside enum", map[string]string{"branch": "main", "env": "qa"}, nil, "env"},
		{"undeclared", map[string]string{"branch": "main", "zzz": "1", "aaa": "2"}, nil, "aaa"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Resolve(declared, tc.given)
			var pe *Error
			switch {
			case tc.wantParam != "" && (!errors.As(err, &pe) || pe.Param != tc.wantParam):
				t.Fatalf("err = %v, want one naming %q", err, tc.wantParam)
			case tc.wantParam == "" && err != nil:
				t.Fatal(err)
			}
			for k, v := range tc.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
		})
	}
	if _, err := Resolve(nil, map[string]string{"x": "1"}); err == nil || err.Error() != `parameter "x" is not declared by the workflow (spec.params), which declares none` {
		t.Errorf("err = %v", err)
	}
}

func TestApplyAndUndeclared(t *testing.T) {
	spec := &aiasv1alpha1.WorkflowSpec{
		Params: declared,
		Steps: []aiasv1alpha1.WorkflowStep{{
			Name: "a", Image: "registry/app:$(params.branch)", Command: []string{"sh"},
			Args: []string{"-c", "echo $(params.branch) $(params.env) $(params.branch)", "$(params.nope)"},
			Env:  []corev1.EnvVar{{Name: "BRANCH", Value: "b=$(params.branch)"}, {Name: "FROM", ValueFrom: &corev1.EnvVarSource{}}},
		}},
	}
	if got := Undeclared(spec); !slices.Equal(got, []string{"spec.steps[0].args[2]: $(params.nope)"}) {
		t.Errorf("undeclared = %q", got)
	}
	Apply(spec, map[string]string{"branch": "main", "env": "prod", "note": "$(params.branch)"})
	st := spec.Steps[0]
	if st.Image != "registry/app:main" || st.Args[1] != "echo main prod main" || st.Args[2] != "$(params.nope)" || st.Env[0].Value != "b=main" {
		t.Errorf("step = %+v", st)
	}
	env := map[string]string{}
	for _, e := range st.Env {
		env[e.Name] = e.Value
	}
	if env["AIAS_PARAM_BRANCH"] != "main" || env["AIAS_PARAM_ENV"] != "prod" || env["AIAS_PARAM_NOTE"] != "$(params.branch)" {
		t.Errorf("env = %v", env)
	}
}

// A parameter value cannot smuggle a $(steps...) reference into the frozen spec.
func TestResolveRefusesStepReferences(t *testing.T) {
	declared := []aiasv1alpha1.WorkflowParam{{Name: "branch"}}
	_, err := Resolve(declared, map[string]string{"branch": "main$(steps.build.result)"})
	var pe *Error
	if !errors.As(err, &pe) || pe.Param != "branch" || !strings.Contains(err.Error(), "$(steps.") {
		t.Fatalf("Resolve = %v, want the parameter refused", err)
	}
}
