// Package params holds the rules of Workflow parameters, shared by the Run controller
// (resolving a Run's values and substituting them into the frozen spec), the Workflow
// controller and admission (references to undeclared parameters), the hook listener
// (values computed from a delivery) and the user API (manual runs).
package params

import (
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// EnvPrefix starts the environment variable each parameter is also given as:
// AIAS_PARAM_<NAME in upper case>.
const EnvPrefix = "AIAS_PARAM_"

// reference matches $(params.NAME) in a step's args, env values and image.
var reference = regexp.MustCompile(`\$\(params\.([A-Za-z_][A-Za-z0-9_]*)\)`)

// Error names the parameter a Run's values get wrong.
type Error struct {
	Param   string
	Message string
}

func (e *Error) Error() string { return fmt.Sprintf("parameter %q %s", e.Param, e.Message) }

// Resolve checks given against the declarations and returns every declared parameter's
// value (given, else its default). A name that is not declared, a required parameter
// without a value, or a value outside its enum is an *Error naming the parameter; the
// first in name order is reported, so the message is stable.
func Resolve(declared []aiasv1alpha1.WorkflowParam, given map[string]string) (map[string]string, error) {
	byName := make(map[string]*aiasv1alpha1.WorkflowParam, len(declared))
	for i := range declared {
		byName[declared[i].Name] = &declared[i]
	}
	names := make([]string, 0, len(given))
	for n := range given {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if byName[n] == nil {
			return nil, &Error{Param: n, Message: "is not declared by the workflow (spec.params)" + declaredList(declared)}
		}
	}
	out := make(map[string]string, len(declared))
	for _, p := range declared {
		v, ok := given[p.Name]
		switch {
		case ok:
		case p.Default != nil:
			v = *p.Default
		case p.Required:
			return nil, &Error{Param: p.Name, Message: "is required and has no value"}
		default:
			v = ""
		}
		if strings.Contains(v, StepReferencePrefix) || strings.Contains(v, RunReferencePrefix) || strings.Contains(v, ItemReferencePrefix) {
			// Values are substituted into the frozen spec, whose $(steps...) references
			// are resolved at each attempt: a value holding one would read a step's
			// result where the Workflow's author wrote none (a webhook sender choosing
			// what a later step receives).
			return nil, &Error{Param: p.Name, Message: "holds " + strconv.Quote(StepReferencePrefix) + ", " + strconv.Quote(RunReferencePrefix) + " or " + strconv.Quote(ItemReferencePrefix) + ", which a parameter value may not (it would read a step's result, the Run's outcome or a forEach item)"}
		}
		if len(p.Enum) > 0 && !slices.Contains(p.Enum, v) {
			return nil, &Error{Param: p.Name, Message: fmt.Sprintf("is %q, not one of %s", v, strings.Join(quoteAll(p.Enum), ", "))}
		}
		out[p.Name] = v
	}
	return out, nil
}

func declaredList(declared []aiasv1alpha1.WorkflowParam) string {
	if len(declared) == 0 {
		return ", which declares none"
	}
	names := make([]string, len(declared))
	for i, p := range declared {
		names[i] = p.Name
	}
	return "; declared: " + strings.Join(names, ", ")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = fmt.Sprintf("%q", s)
	}
	return out
}

// StepReferencePrefix starts a reference to a step's result (internal/workflowexpr), and
// RunReferencePrefix one to the Run's outcome in a finally step ($(run.phase)),
// ItemReferencePrefix one to a forEach step's item ($(item), $(item.name)).
const (
	StepReferencePrefix = "$(steps."
	RunReferencePrefix  = "$(run."
	ItemReferencePrefix = "$(item"
)

// EnvName is the environment variable a parameter is given as.
func EnvName(param string) string { return EnvPrefix + strings.ToUpper(param) }

// Apply substitutes values into spec, a copy being frozen for one Run: $(params.NAME)
// in every step's image, args and env values, and AIAS_PARAM_<NAME> appended to every
// step's env. Substitution is one pass, so a value that itself reads $(params.x) stays
// literal.
func Apply(spec *aiasv1alpha1.WorkflowSpec, values map[string]string) {
	if len(values) == 0 {
		return
	}
	replace := func(s string) string {
		if !strings.Contains(s, "$(params.") {
			return s
		}
		return reference.ReplaceAllStringFunc(s, func(m string) string {
			name := reference.FindStringSubmatch(m)[1]
			if v, ok := values[name]; ok {
				return v
			}
			return m
		})
	}
	names := make([]string, 0, len(values))
	for n := range values {
		names = append(names, n)
	}
	sort.Strings(names)
	for i := range len(spec.Steps) + len(spec.Finally) {
		st := stepAt(spec, i)
		st.Image = replace(st.Image)
		for j := range st.Args {
			st.Args[j] = replace(st.Args[j])
		}
		for j := range st.Env {
			st.Env[j].Value = replace(st.Env[j].Value)
		}
		if st.WorkflowRef != nil {
			for k, v := range st.WorkflowRef.Params {
				st.WorkflowRef.Params[k] = replace(v)
			}
		}
		for _, n := range names {
			st.Env = append(st.Env, corev1.EnvVar{Name: EnvName(n), Value: values[n]})
		}
	}
}

// Undeclared lists the references in spec to parameters it does not declare, as
// "field: $(params.NAME)" in step order.
func Undeclared(spec *aiasv1alpha1.WorkflowSpec) []string {
	declared := map[string]bool{}
	for _, p := range spec.Params {
		declared[p.Name] = true
	}
	var out []string
	check := func(field, s string) {
		for _, m := range reference.FindAllStringSubmatch(s, -1) {
			if !declared[m[1]] {
				out = append(out, fmt.Sprintf("%s: %s", field, m[0]))
			}
		}
	}
	for _, list := range []struct {
		field string
		steps []aiasv1alpha1.WorkflowStep
	}{{"spec.steps", spec.Steps}, {"spec.finally", spec.Finally}} {
		for i, st := range list.steps {
			check(fmt.Sprintf("%s[%d].image", list.field, i), st.Image)
			for j, a := range st.Args {
				check(fmt.Sprintf("%s[%d].args[%d]", list.field, i, j), a)
			}
			for j, e := range st.Env {
				check(fmt.Sprintf("%s[%d].env[%d].value", list.field, i, j), e.Value)
			}
		}
	}
	return out
}

// stepAt is step i of spec.steps followed by spec.finally.
func stepAt(spec *aiasv1alpha1.WorkflowSpec, i int) *aiasv1alpha1.WorkflowStep {
	if i < len(spec.Steps) {
		return &spec.Steps[i]
	}
	return &spec.Finally[i-len(spec.Steps)]
}
