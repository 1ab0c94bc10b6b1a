package workflowexpr

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// refPattern is $(steps.NAME.result) with an optional dotted path of field names or
// array indexes. Anything else that starts with $(steps. is not a reference (see
// malformedRefs).
var (
	refPattern  = regexp.MustCompile(`\$\(steps\.([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)\.result((?:\.[A-Za-z0-9_-]+)*)\)`)
	looseRefPat = regexp.MustCompile(`\$\(steps\.[^)]*\)?`)
	// itemPattern is $(item) with an optional dotted path, in a forEach step.
	itemPattern  = regexp.MustCompile(`\$\(item((?:\.[A-Za-z0-9_-]+)*)\)`)
	looseItemPat = regexp.MustCompile(`\$\(item\b[^)]*\)?`)
	// anyRefPattern finds both kinds in one pass, so that a substituted value is never
	// read again as a reference of the other kind.
	anyRefPattern = regexp.MustCompile(refPattern.String() + "|" + itemPattern.String())
)

// Item is the item a forEach step's attempt runs for.
type Item struct{ Value any }

// HasItemRefs reports that s holds a $(item...) reference.
func HasItemRefs(s string) bool { return itemPattern.MatchString(s) }

// malformedItemRefs lists the "$(item..." texts in s that are not item references.
func malformedItemRefs(s string) []string {
	var bad []string
	for _, m := range looseItemPat.FindAllString(s, -1) {
		if itemPattern.FindString(m) != m {
			bad = append(bad, m)
		}
	}
	return bad
}

// Ref is one $(steps.NAME.result[.PATH]) reference in a string.
type Ref struct {
	Text string // the whole "$(steps.build.result.version)"
	Step string
	Path []string // ["version"]; numeric segments index arrays: $(steps.x.result.items.0.name)
}

// Refs lists the references in s, in order of appearance.
func Refs(s string) []Ref {
	var refs []Ref
	for _, m := range refPattern.FindAllStringSubmatch(s, -1) {
		refs = append(refs, toRef(m))
	}
	return refs
}

func toRef(m []string) Ref {
	r := Ref{Text: m[0], Step: m[1]}
	if m[2] != "" {
		r.Path = strings.Split(m[2][1:], ".")
	}
	return r
}

// malformedRefs lists the "$(steps...." texts in s that are not references, such as
// $(steps.build.output) or an unclosed $(steps.build.result.
func malformedRefs(s string) []string {
	var bad []string
	for _, m := range looseRefPat.FindAllString(s, -1) {
		if !refPattern.MatchString(m) || refPattern.FindString(m) != m {
			bad = append(bad, m)
		}
	}
	return bad
}

// Substitute replaces every reference in s with its value: strings as themselves, numbers
// and bools as JSON (1 not 1.0, no exponent), null as null, objects and arrays as compact
// JSON; $(steps.x.result) alone is the whole result. results maps a step name to its parsed
// result (ParseResult); a step that wrote none is absent. An unknown step, a step with no
// result, or a missing field or index is an error naming the reference. Substitution is
// one pass: a substituted value containing "$(" stays literal.
func Substitute(s string, results map[string]any) (string, error) {
	return SubstituteItem(s, results, nil)
}

// SubstituteItem is Substitute that also replaces $(item) and $(item.PATH) with the
// item's value (formatted as a result's is) when item is set; without an item they are
// an error (they belong in forEach steps).
func SubstituteItem(s string, results map[string]any, item *Item) (string, error) {
	var firstErr error
	out := anyRefPattern.ReplaceAllStringFunc(s, func(text string) string {
		if firstErr != nil {
			return text
		}
		var v any
		var err error
		if m := itemPattern.FindStringSubmatch(text); m != nil && m[0] == text {
			if item == nil {
				err = fmt.Errorf("$(item) is known in forEach steps only")
			} else {
				var path []string
				if m[1] != "" {
					path = strings.Split(m[1][1:], ".")
				}
				v, err = walk(item.Value, path, "the item")
			}
		} else {
			v, err = toRef(refPattern.FindStringSubmatch(text)).value(results)
		}
		if err == nil {
			var str string
			if str, err = format(v); err == nil {
				return str
			}
		}
		firstErr = fmt.Errorf("%s: %w", text, err)
		return text
	})
	if firstErr != nil {
		return "", firstErr
	}
	return out, nil
}

// value walks r's path through its step's result.
func (r Ref) value(results map[string]any) (any, error) {
	v, ok := results[r.Step]
	if !ok {
		return nil, fmt.Errorf("step %s has no result (it wrote none, or has not run)", r.Step)
	}
	return walk(v, r.Path, "step "+r.Step+"'s result")
}

// walk follows path (field names and array indexes) from v; where names v in errors.
func walk(v any, path []string, where string) (any, error) {
	var ok bool
	for _, seg := range path {
		switch x := v.(type) {
		case map[string]any:
			if v, ok = x[seg]; !ok {
				return nil, fmt.Errorf("%s has no field %s", where, seg)
			}
		case []any:
			i, err := strconv.Atoi(seg)
			if err != nil {
				return nil, fmt.Errorf("%s is an array; %s is not an index", where, seg)
			}
			if i < 0 || i >= len(x) {
				return nil, fmt.Errorf("%s has no index %d (length %d)", where, i, len(x))
			}
			v = x[i]
		default:
			return nil, fmt.Errorf("%s is %s, it has no field %s", where, kind(v), seg)
		}
		where += "." + seg
	}
	return v, nil
}

func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "a string"
	case float64:
		return "a number"
	case bool:
		return "a bool"
	default:
		return fmt.Sprintf("a %T", v)
	}
}

// format turns a result value into the text that replaces its reference.
func format(v any) (string, error) {
	switch x := v.(type) {
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case bool:
		return strconv.FormatBool(x), nil
	case nil:
		return "null", nil
	default:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return "", err
		}
		return strings.TrimSuffix(b.String(), "\n"), nil
	}
}
