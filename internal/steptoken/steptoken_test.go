package steptoken

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"
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

func TestAttemptTicket(t *testing.T) {
	iss, _ := NewIssuer(bytes.Repeat([]byte{1}, 32))
	now := time.Unix(1_800_000_000, 0)
	a := Attempt{Run: Run{Namespace: "acme", Name: "build-1", UID: "u-1"}, Step: "test", Attempt: 2, Expires: now.Add(time.Hour)}
	ticket := iss.IssueAttempt(a)
	if got, err := iss.VerifyAttempt(ticket, now); err != nil || got != a {
		t.Fatalf("VerifyAttempt = %+v, %v; want %+v", got, err, a)
	}
	if _, err := iss.VerifyAttempt(ticket, now.Add(time.Hour+time.Second)); !errors.Is(err, ErrExpired) {
		t.Errorf("after its deadline: %v, want ErrExpired", err)
	}
	runToken := iss.Issue(a.Run)
	if _, err := iss.VerifyAttempt(runToken, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("a run token taken for a ticket: %v", err)
	}
	if _, err := iss.Verify(ticket); !errors.Is(err, ErrInvalid) {
		t.Errorf("a ticket taken for a run token: %v", err)
	}
	other := a
	other.Attempt = 3
	forged := strings.Split(iss.IssueAttempt(other), ".")[0] + "." + strings.Split(ticket, ".")[1]
	if _, err := iss.VerifyAttempt(forged, now); !errors.Is(err, ErrInvalid) {
		t.Errorf("another attempt's payload with this mac: %v", err)
	}
}
