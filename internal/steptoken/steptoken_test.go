package steptoken

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestIssueVerify(t *testing.T) {
	iss, err := NewIssuer(bytes.Repeat([]byte{1}, 32))
	if err != nil {
		t.Fatal(err)
	}
	run := Run{Namespace: "acme", Name: "build-1", UID: "0b0e7d1c-0000-4000-8000-000000000001"}
	tok := iss.Issue(run)
	got, err := iss.Verify(tok)
	if err != nil || got != run {
		t.Fatalf("Verify = %+v, %v; want %+v", got, err, run)
	}
	other, _ := NewIssuer(bytes.Repeat([]byte{2}, 32))
	for name, bad := range map[string]string{
		"other key":               other.Issue(run),
		"no dot":                  "abc",
		"empty":                   "",
		"other payload, same mac": strings.Split(iss.Issue(Run{Namespace: "acme", Name: "build-2", UID: run.UID}), ".")[0] + "." + strings.Split(tok, ".")[1],
		"bad base64":              "!!!.???",
		"swapped mac":             iss.Issue(run)[:len(tok)-2] + "AA",
	} {
		if _, err := iss.Verify(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", name, err)
		}
	}
	if _, err := NewIssuer([]byte("short")); err == nil {
		t.Error("short key accepted")
	}
}
