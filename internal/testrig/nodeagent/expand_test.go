package nodeagent

import "testing"

// The cases Kubernetes documents for $(VAR) expansion in env, command and args.
func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "a", "EMPTY": "", "PATHY": "/work/out"}
	for in, want := range map[string]string{
		"":                "",
		"plain":           "plain",
		"$(A)":            "a",
		"x$(A)y$(A)":      "xaya",
		"$(EMPTY)":        "",
		"$(UNDEFINED)":    "$(UNDEFINED)",
		"$$(A)":           "$(A)",
		"$$$(A)":          "$a",
		"$$$$(A)":         "$$(A)",
		"$A":              "$A",
		"$":               "$",
		"a$":              "a$",
		"$(":              "$(",
		"$(A":             "$(A",
		"$()":             "$()",
		"$(PATHY)/x":      "/work/out/x",
		"$(cat \"$OUT\")": "$(cat \"$OUT\")",
		"€$(A)€":          "€a€",
	} {
		if got := expand(in, vars); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	c := &containerPlan{mounts: []mount{ // as newPodPlan sorts them: longest first
		{path: "/aias/work/out", local: "/tmp/p/out"},
		{path: "/aias/work", local: "/tmp/p/work"},
	}}
	for in, want := range map[string]string{
		"/aias/work":         "/tmp/p/work",
		"/aias/work/":        "/tmp/p/work/",
		"/aias/work/in.json": "/tmp/p/work/in.json",
		"/aias/work/out/a":   "/tmp/p/out/a",
		"/aias/workshop":     "/aias/workshop",
		"--dir=/aias/work":   "--dir=/aias/work",
		"/aias":              "/aias",
	} {
		if got := c.local(in); got != want {
			t.Errorf("local(%q) = %q, want %q", in, got, want)
		}
	}
}
