package steptoken

import (
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"
	"time"
)

// An attempt ticket binds a step's requests to one step attempt until a deadline. The
// run token (in the Run's token Secret, shared by all of its steps) proves the caller may
// see the Secret; the ticket (in the attempt's own Pod spec) says which attempt it is.
// The step API wants both, so a process of one step cannot write as another step or a
// later attempt, a leaked Secret is useless without a live attempt's ticket, and a
// ticket read from a Pod spec is useless without the Secret.

// Attempt identifies the step attempt a ticket is bound to.
type Attempt struct {
	Run     Run
	Step    string
	Attempt int
	// Expires is when the ticket stops being accepted (second precision).
	Expires time.Time
}

// ErrExpired means a genuine ticket whose deadline has passed.
var ErrExpired = errors.New("the step attempt ticket has expired")

// IssueAttempt returns the ticket for a.
func (i *Issuer) IssueAttempt(a Attempt) string {
	payload := attemptPayload(a)
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(i.macDomain("aias-attempt-ticket-v1", payload))
}

// VerifyAttempt returns the attempt a ticket was issued for: ErrInvalid when it was not
// issued with this key, ErrExpired when it is past its deadline at now.
func (i *Issuer) VerifyAttempt(ticket string, now time.Time) (Attempt, error) {
	enc := base64.RawURLEncoding
	p, m, ok := strings.Cut(ticket, ".")
	if !ok {
		return Attempt{}, ErrInvalid
	}
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, i.macDomain("aias-attempt-ticket-v1", string(payload))) {
		return Attempt{}, ErrInvalid
	}
	parts := strings.Split(string(payload), "/")
	if len(parts) != 6 {
		return Attempt{}, ErrInvalid
	}
	attempt, err1 := strconv.Atoi(parts[4])
	expires, err2 := strconv.ParseInt(parts[5], 10, 64)
	if err1 != nil || err2 != nil {
		return Attempt{}, ErrInvalid
	}
	a := Attempt{Run: Run{Namespace: parts[0], Name: parts[1], UID: parts[2]}, Step: parts[3], Attempt: attempt, Expires: time.Unix(expires, 0)}
	if now.After(a.Expires) {
		return a, ErrExpired
	}
	return a, nil
}

// Names, UIDs and step names cannot hold "/", so the payload is unambiguous.
func attemptPayload(a Attempt) string {
	return strings.Join([]string{a.Run.Namespace, a.Run.Name, a.Run.UID, a.Step, strconv.Itoa(a.Attempt), strconv.FormatInt(a.Expires.Unix(), 10)}, "/")
}
