package runs

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestBoundedName(t *testing.T) {
	long := strings.Repeat("a", 70)
	tests := []struct {
		name, readable, key string
		exact               bool
		want                string
	}{
		{name: "readable when exact and short", readable: "a-b-c-1", exact: true, key: "x", want: "a-b-c-1"},
		{name: "hashed when not exact", readable: "a-b-c-1", exact: false, key: "x", want: "a-b-c-1-" + Hash("x")},
		{name: "hashed when too long", readable: long, exact: true, key: long, want: long[:46] + "-" + Hash(long)},
		{name: "a cut ending in - or . is trimmed", readable: strings.Repeat("a", 44) + ".-b", exact: false, key: "k", want: strings.Repeat("a", 44) + "-" + Hash("k")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := BoundedName(tt.readable, tt.exact, tt.key)
			if got != tt.want {
				t.Errorf("BoundedName(%q, %v, %q) = %q, want %q", tt.readable, tt.exact, tt.key, got, tt.want)
			}
			if len(got) > MaxNameLength || len(validation.IsValidLabelValue(got)) > 0 {
				t.Errorf("%q is no label value", got)
			}
		})
	}
}

func TestHashIsSixteenHexDigits(t *testing.T) {
	if h := Hash("anything"); len(h) != HashLength || HashLength != 16 || strings.Trim(h, "0123456789abcdef") != "" {
		t.Errorf("Hash = %q, want %d lowercase hex digits", h, HashLength)
	}
}

func TestLabelValue(t *testing.T) {
	if got := LabelValue("github-push"); got != "github-push" {
		t.Errorf("a short name: %q, want it as it is", got)
	}
	long := strings.Repeat("ab.", 80) + "c"
	got := LabelValue(long)
	if len(validation.IsValidLabelValue(got)) > 0 || !strings.HasSuffix(got, "-"+Hash(long)) {
		t.Errorf("a 241-character name: %q, want a label value ending in its hash", got)
	}
	if other := LabelValue(long + "d"); other == got {
		t.Errorf("two long names share label value %q", got)
	}
}
