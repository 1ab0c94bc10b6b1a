package workflowexpr

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Phases a depends term may name. A bare name means Succeeded.
const (
	DependsSucceeded = "Succeeded"
	DependsSkipped   = "Skipped"
	DependsEnded     = "Ended" // Succeeded or Skipped
)

// The step phases Eval compares with.
const (
	phaseSucceeded = string(aiasv1alpha1.StepSucceeded)
	phaseSkipped   = string(aiasv1alpha1.StepSkipped)
)

var stepName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)

// Depends is a parsed `depends` expression (an Argo-style join): step names, each
// optionally with a phase suffix, combined with &&, || and ! and grouped with parentheses.
//
//	expr  := or
//	or    := and ('||' and)*
//	and   := unary ('&&' unary)*
//	unary := '!' unary | '(' expr ')' | term
//	term  := NAME ( '.' ('Succeeded' | 'Skipped' | 'Ended') )?
type Depends struct {
	root node
}

type node interface {
	eval(phase func(string) string) bool
	steps(seen map[string]bool)
	format(b *strings.Builder, parent int)
}

// Precedences for String's parentheses.
const (
	precOr = iota + 1
	precAnd
	precUnary
)

type term struct{ step, phase string } // phase "" is a bare name: Succeeded

type not struct{ x node }

type join struct {
	and bool
	xs  []node
}

func (t term) eval(phase func(string) string) bool {
	p := phase(t.step)
	switch t.phase {
	case DependsSkipped:
		return p == phaseSkipped
	case DependsEnded:
		return p == phaseSucceeded || p == phaseSkipped
	default:
		return p == phaseSucceeded
	}
}

func (n not) eval(phase func(string) string) bool { return !n.x.eval(phase) }

func (j join) eval(phase func(string) string) bool {
	for _, x := range j.xs {
		if x.eval(phase) != j.and {
			return !j.and
		}
	}
	return j.and
}

func (t term) steps(seen map[string]bool) { seen[t.step] = true }
func (n not) steps(seen map[string]bool)  { n.x.steps(seen) }
func (j join) steps(seen map[string]bool) {
	for _, x := range j.xs {
		x.steps(seen)
	}
}

func (t term) format(b *strings.Builder, _ int) {
	b.WriteString(t.step)
	if t.phase != "" {
		b.WriteString("." + t.phase)
	}
}

func (n not) format(b *strings.Builder, _ int) {
	b.WriteString("!")
	n.x.format(b, precUnary)
}

func (j join) format(b *strings.Builder, parent int) {
	prec, op := precOr, " || "
	if j.and {
		prec, op = precAnd, " && "
	}
	if parent > prec {
		b.WriteString("(")
		defer b.WriteString(")")
	}
	for i, x := range j.xs {
		if i > 0 {
			b.WriteString(op)
		}
		x.format(b, prec)
	}
}

// ParseDepends parses s. An error names the position (1-based column) and the token.
func ParseDepends(s string) (*Depends, error) {
	toks, err := lex(s)
	if err != nil {
		return nil, err
	}
	p := &parser{src: s, toks: toks}
	if p.peek().kind == tokEOF {
		return nil, fmt.Errorf("depends expression is empty")
	}
	root, err := p.or()
	if err != nil {
		return nil, err
	}
	if t := p.peek(); t.kind != tokEOF {
		return nil, p.errorf(t, "unexpected %s", t)
	}
	return &Depends{root: root}, nil
}

// Steps lists the step names d references, sorted and unique.
func (d *Depends) Steps() []string {
	seen := map[string]bool{}
	d.root.steps(seen)
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Eval reports whether the join holds, given each referenced step's phase string
// ("Succeeded", "Skipped", "Failed", ...).
func (d *Depends) Eval(phase func(step string) string) bool { return d.root.eval(phase) }

// String is d in canonical form: single spaces around && and ||, parentheses only where
// needed; a bare name stays bare (it means NAME.Succeeded).
func (d *Depends) String() string {
	var b strings.Builder
	d.root.format(&b, 0)
	return b.String()
}

type tokKind int

const (
	tokEOF tokKind = iota
	tokName
	tokDot
	tokAnd
	tokOr
	tokNot
	tokLParen
	tokRParen
)

type token struct {
	kind tokKind
	text string
	pos  int // 0-based byte offset
}

func (t token) String() string {
	if t.kind == tokEOF {
		return "end of expression"
	}
	return fmt.Sprintf("%q", t.text)
}

func isWordByte(c byte) bool {
	return c == '-' || c == '_' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func lex(s string) ([]token, error) {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case strings.HasPrefix(s[i:], "&&"):
			toks = append(toks, token{tokAnd, "&&", i})
			i += 2
		case strings.HasPrefix(s[i:], "||"):
			toks = append(toks, token{tokOr, "||", i})
			i += 2
		case c == '!':
			toks = append(toks, token{tokNot, "!", i})
			i++
		case c == '(':
			toks = append(toks, token{tokLParen, "(", i})
			i++
		case c == ')':
			toks = append(toks, token{tokRParen, ")", i})
			i++
		case c == '.':
			toks = append(toks, token{tokDot, ".", i})
			i++
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{tokName, s[i:j], i})
			i = j
		default:
			r := []rune(s[i:])[0]
			return nil, fmt.Errorf("depends: column %d: unexpected %q; use step names, .Succeeded, .Skipped, .Ended, &&, ||, ! and parentheses", i+1, r)
		}
	}
	return append(toks, token{kind: tokEOF, pos: len(s)}), nil
}

type parser struct {
	src  string
	toks []token
	i    int
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func (p *parser) errorf(t token, format string, args ...any) error {
	return fmt.Errorf("depends: column %d: %s", t.pos+1, fmt.Sprintf(format, args...))
}

func (p *parser) or() (node, error) { return p.join(false) }

func (p *parser) join(and bool) (node, error) {
	sub, op := p.and, tokOr
	if and {
		sub, op = p.unary, tokAnd
	}
	x, err := sub()
	if err != nil {
		return nil, err
	}
	xs := []node{x}
	for p.peek().kind == op {
		p.next()
		y, err := sub()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	if len(xs) == 1 {
		return x, nil
	}
	return join{and: and, xs: xs}, nil
}

func (p *parser) and() (node, error) { return p.join(true) }

func (p *parser) unary() (node, error) {
	t := p.next()
	switch t.kind {
	case tokNot:
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return not{x}, nil
	case tokLParen:
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if c := p.next(); c.kind != tokRParen {
			return nil, p.errorf(c, "expected \")\" to close the \"(\" at column %d, found %s", t.pos+1, c)
		}
		return x, nil
	case tokName:
		return p.term(t)
	default:
		return nil, p.errorf(t, "expected a step name, \"!\" or \"(\", found %s", t)
	}
}

func (p *parser) term(name token) (node, error) {
	if !stepName.MatchString(name.text) {
		return nil, p.errorf(name, "%q is not a step name (lower-case letters, digits and '-')", name.text)
	}
	if p.peek().kind != tokDot {
		return term{step: name.text}, nil
	}
	p.next()
	ph := p.next()
	if ph.kind != tokName {
		return nil, p.errorf(ph, "expected Succeeded, Skipped or Ended after %q, found %s", name.text+".", ph)
	}
	switch ph.text {
	case DependsSucceeded, DependsSkipped, DependsEnded:
		return term{step: name.text, phase: ph.text}, nil
	case "Failed", "Errored", "Completed", "Daemoned":
		return nil, p.errorf(ph, "%s.%s: a depends term can be Succeeded, Skipped or Ended, not %s; a failed step ends the Run's main steps, and steps that must run after a failure belong in finally",
			name.text, ph.text, ph.text)
	default:
		return nil, p.errorf(ph, "%s.%s: unknown phase %q; use Succeeded, Skipped or Ended", name.text, ph.text, ph.text)
	}
}
