// Package steptoken issues and checks the per-run tokens that step pods present to the
// internal API. A token is bound to one Run (namespace, name and UID) by an HMAC with a
// server key, so the server needs no token table and a leaked token reaches one run only.
package steptoken

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
)

// Run identifies the Run a token is bound to.
type Run struct {
	Namespace string
	Name      string
	UID       string
}

// ErrInvalid means the token was not issued by this server's key (or was altered).
var ErrInvalid = errors.New("invalid step token")

// Issuer signs and verifies tokens with one key.
type Issuer struct{ key []byte }

// NewIssuer returns an issuer for key, which should hold at least 32 random bytes.
func NewIssuer(key []byte) (*Issuer, error) {
	if len(key) < 32 {
		return nil, errors.New("step token key must be at least 32 bytes")
	}
	return &Issuer{key: append([]byte(nil), key...)}, nil
}

// LoadIssuer reads the key from a file (the mounted Secret aias-step-token-key) and
// returns its issuer; the manager and the webhookserver share the file.
func LoadIssuer(path string) (*Issuer, error) {
	key, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the step token key: %w", err)
	}
	return NewIssuer(key)
}

// Issue returns the token for run.
func (i *Issuer) Issue(run Run) string {
	payload := run.Namespace + "/" + run.Name + "/" + run.UID
	enc := base64.RawURLEncoding
	return enc.EncodeToString([]byte(payload)) + "." + enc.EncodeToString(i.mac(payload))
}

// Verify returns the run a token was issued for, or ErrInvalid.
func (i *Issuer) Verify(token string) (Run, error) {
	enc := base64.RawURLEncoding
	p, m, ok := strings.Cut(token, ".")
	if !ok {
		return Run{}, ErrInvalid
	}
	payload, err1 := enc.DecodeString(p)
	mac, err2 := enc.DecodeString(m)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, i.mac(string(payload))) {
		return Run{}, ErrInvalid
	}
	parts := strings.Split(string(payload), "/")
	if len(parts) != 3 {
		return Run{}, ErrInvalid
	}
	return Run{Namespace: parts[0], Name: parts[1], UID: parts[2]}, nil
}

func (i *Issuer) mac(payload string) []byte { return i.macDomain("aias-step-token-v1", payload) }

// macDomain separates the token kinds: a run token is never a valid ticket, nor the
// reverse.
func (i *Issuer) macDomain(domain, payload string) []byte {
	h := hmac.New(sha256.New, i.key)
	h.Write([]byte(domain + "\x00" + payload))
	return h.Sum(nil)
}
