package workflowexpr

import (
	"reflect"
	"strings"
	"testing"
)

func TestRefs(t *testing.T) {
	got := Refs(`deploy --tag=$(steps.build.result.version) --digest $(steps.build.result.images.0.digest)$(steps.scan-2.result) $(params.x) $(steps.bad.output)`)
	want := []Ref{
		{Text: "$(steps.build.result.version)", Step: "build", Path: []string{"version"}},
		{Text: "$(steps.build.result.images.0.digest)", Step: "build", Path: []string{"images", "0", "digest"}},
		{Text: "$(steps.scan-2.result)", Step: "scan-2"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Refs = %+v\nwant %+v", got, want)
	}
	if r := Refs("no references here $(params.a)"); r != nil {
		t.Fatalf("Refs = %+v, want none", r)
	}
}

func results(t *testing.T) map[string]any {
	t.Helper()
	res := map[string]any{}
	for name, raw := range map[string]string{
		"build": `{"version":"1.2.3","count":1.0,"ratio":1.5,"big":12345678901234567,"ok":false,"none":null,` +
			`"images":[{"name":"api","digest":"sha256:ab"},{"name":"web","digest":"sha256:cd"}],"meta":{"b":2,"a":"<x&y>"},"tricky":"$(steps.build.result.version)"}`,
		"text":  "plain text, not JSON\n",
		"list":  `[1,"two",[3]]`,
		"empty": `{}`,
	} {
		v, err := ParseResult([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		res[name] = v
	}
	return res
}

func TestSubstitute(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"v=$(steps.build.result.version)", "v=1.2.3"},
		{"$(steps.build.result.count)", "1"},
		{"$(steps.build.result.ratio)", "1.5"},
		{"$(steps.build.result.big)", "12345678901234568"}, // a double: exact to 2^53, never an exponent
		{"$(steps.build.result.ok)", "false"},
		{"$(steps.build.result.none)", "null"},
		{"$(steps.build.result.images.1.name)@$(steps.build.result.images.1.digest)", "web@sha256:cd"},
		{"$(steps.build.result.images.0)", `{"digest":"sha256:ab","name":"api"}`},
		{"$(steps.build.result.meta)", `{"a":"<x&y>","b":2}`},
		{"$(steps.list.result)", `[1,"two",[3]]`},
		{"$(steps.list.result.2.0)", "3"},
		{"[$(steps.text.result)]", "[plain text, not JSON\n]"},
		{"$(steps.empty.result)", "{}"},
		{"$(steps.build.result.tricky)", "$(steps.build.result.version)"}, // one pass
		{"$(params.x) $(steps.build.output) $$(steps", "$(params.x) $(steps.build.output) $$(steps"},
		{"", ""},
	} {
		got, err := Substitute(tc.in, results(t))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if got != tc.want {
			t.Errorf("Substitute(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSubstituteErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"--tag=$(steps.build.result.version2)", "$(steps.build.result.version2): step build's result has no field version2"},
		{"$(steps.build.result.meta.c)", "$(steps.build.result.meta.c): step build's result.meta has no field c"},
		{"$(steps.build.result.images.2.name)", "$(steps.build.result.images.2.name): step build's result.images has no index 2 (length 2)"},
		{"$(steps.build.result.images.first)", "$(steps.build.result.images.first): step build's result.images is an array; first is not an index"},
		{"$(steps.build.result.version.major)", "$(steps.build.result.version.major): step build's result.version is a string, it has no field major"},
		{"$(steps.text.result.x)", "$(steps.text.result.x): step text's result is a string, it has no field x"},
		{"$(steps.build.result.none.x)", "$(steps.build.result.none.x): step build's result.none is null, it has no field x"},
		{"ok $(steps.build.result) $(steps.deploy.result)", "$(steps.deploy.result): step deploy has no result"},
	} {
		_, err := Substitute(tc.in, results(t))
		if err == nil {
			t.Errorf("%q substituted", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %q, want %q", tc.in, err, tc.want)
		}
	}
}
