package signature

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Key is one signing secret. Value is the Secret's value exactly as stored (for
// StandardWebhooks, "whsec_<base64>"; each scheme derives its HMAC key or token from it
// as its documentation says). Key's String, GoString and MarshalJSON show the Name only,
// so a Key that reaches a log does not leak its value.
type Key struct {
	Name  string
	Value []byte
}

// String returns the key's name, never its value.
func (k Key) String() string { return k.Name }

// GoString returns the key's name, never its value.
func (k Key) GoString() string { return fmt.Sprintf("signature.Key{Name: %q}", k.Name) }

// MarshalJSON encodes the key's name only, never its value.
func (k Key) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		Name string `json:"name"`
	}{k.Name})
}

// SecretPrefix starts the secrets NewSecret generates (and Standard Webhooks secrets).
const SecretPrefix = "whsec_"

// SecretKey is the Secret data key of the signing secret; during rotation further keys
// are named SecretKey + "-<N>".
const SecretKey = "secret"

// ErrNoKeys means a Secret holds no signing key.
var ErrNoKeys = errors.New(`no signing key: the Secret has no "secret" or "secret-<N>" data key`)

// MaxKeyNumber is the highest N of a "secret-<N>" signing key.
const MaxKeyNumber = 999_999_999

// MaxKeys is how many signing keys of one Secret are used, the newest: a delivery costs
// one MAC of its body per key, and a rotation needs two or three. A Secret with more has
// its oldest ones ignored (the WebhookEndpoint controller, which reads keys with Keys
// too, reports exactly the ones used).
const MaxKeys = 16

// Keys reads a Secret's data into signing keys, newest first, at most MaxKeys of them.
//
// The naming contract: the data keys "secret" and "secret-<N>", N a positive decimal
// integer without leading zeros of at most 9 digits (MaxKeyNumber), are signing keys;
// "secret" counts as N = 0 and a higher N is newer. Every other data key (including
// "secret-0", "secret-01" and "secret-1000000000") is ignored. To rotate, add
// "secret-<N+1>" with the new value, move senders to it, then remove the old key;
// meanwhile a delivery signed with either verifies.
//
// Keys fails with ErrNoKeys when there is no signing key. Values are returned as stored,
// not trimmed, and not judged: an empty value or one a scheme cannot use is returned too,
// and Verify skips it. Usable lists the keys a scheme will use and CheckKeys says why it
// skips the others; the WebhookEndpoint controller reports both, so what it calls Ready
// is exactly what the hook listener verifies with.
func Keys(data map[string][]byte) ([]Key, error) {
	type numbered struct {
		n int
		k Key
	}
	var found []numbered
	for name, value := range data {
		if n, ok := keyNumber(name); ok {
			found = append(found, numbered{n, Key{Name: name, Value: value}})
		}
	}
	if len(found) == 0 {
		return nil, ErrNoKeys
	}
	sort.Slice(found, func(i, j int) bool { return found[i].n > found[j].n })
	found = found[:min(len(found), MaxKeys)]
	keys := make([]Key, len(found))
	for i, f := range found {
		keys[i] = f.k
	}
	return keys, nil
}

// keyNumber returns N for a data key named "secret" (0) or "secret-<N>".
func keyNumber(name string) (int, bool) {
	if name == SecretKey {
		return 0, true
	}
	digits, ok := strings.CutPrefix(name, SecretKey+"-")
	if !ok || digits == "" || len(digits) > 9 || digits[0] == '0' {
		return 0, false
	}
	n := 0
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

// NewSecret returns a fresh secret: "whsec_" followed by the standard base64 (padded) of
// 32 random bytes. It suits every scheme: Standard Webhooks decodes the part after the
// prefix, the others use the whole string.
func NewSecret() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating a signing secret: %w", err)
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(b[:]), nil
}

// KeyError says why a scheme cannot use one signing key. It names the key, never its
// value, and matches ErrInvalidConfig under errors.Is.
type KeyError struct {
	// Key is the Secret data key, e.g. "secret-2".
	Key string
	// Problem completes the sentence "signing key <Key> ...", e.g. "is empty".
	Problem string
}

func (e *KeyError) Error() string { return fmt.Sprintf("signing key %q %s", e.Key, e.Problem) }

// Is makes a KeyError an ErrInvalidConfig.
func (e *KeyError) Is(target error) bool { return target == ErrInvalidConfig }

// Usable returns the keys of keys that cfg's scheme uses to verify, in their order
// (newest first, as Keys returns them); none when cfg itself is invalid. Sign with the
// first one.
func Usable(cfg Config, keys []Key) []Key {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil
	}
	var usable []Key
	for _, k := range keys {
		if checkKey(cfg.Scheme, k) == nil {
			usable = append(usable, k)
		}
	}
	return usable
}

// CheckKeys reports the keys that cfg's scheme cannot use, naming them (never their
// values), one *KeyError each, joined: empty keys; for StandardWebhooks, values that are
// not standard base64 after an optional "whsec_" prefix (line breaks are ignored); for
// Token, values that cannot travel in an Authorization header (control characters, or
// leading or trailing spaces). Verify skips such keys and fails with ErrInvalidConfig
// when none is left; a controller calls CheckKeys to say why. An invalid cfg, or no keys
// at all, is reported as such. Every error matches ErrInvalidConfig.
func CheckKeys(cfg Config, keys []Key) error {
	cfg, err := cfg.normalize()
	if err != nil {
		return err
	}
	if len(keys) == 0 {
		return configError("no signing keys")
	}
	var errs []error
	for _, k := range keys {
		if err := checkKey(cfg.Scheme, k); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// checkKey reports whether scheme can use k: nil, or a *KeyError.
func checkKey(scheme Scheme, k Key) error {
	if len(k.Value) == 0 {
		return &KeyError{Key: k.Name, Problem: "is empty"}
	}
	switch scheme {
	case StandardWebhooks:
		if _, ok := standardWebhooksKey(k); !ok {
			return &KeyError{Key: k.Name, Problem: fmt.Sprintf("is not a Standard Webhooks secret (standard base64, optionally after %q)", SecretPrefix)}
		}
	case Token:
		if !headerSafe(k.Value) {
			return &KeyError{Key: k.Name, Problem: "cannot be a bearer token: it has control characters or leading or trailing spaces"}
		}
	}
	return nil
}

// standardWebhooksKey derives the HMAC key of a Standard Webhooks secret as the
// reference library does: strip a "whsec_" prefix if present, then decode standard
// base64 (padded). The key must not be empty.
func standardWebhooksKey(k Key) ([]byte, bool) {
	s := strings.TrimPrefix(string(k.Value), SecretPrefix)
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) == 0 {
		return nil, false
	}
	return b, true
}

// headerSafe reports whether v can be an HTTP header value unchanged: visible ASCII,
// spaces and tabs, or bytes >= 0x80, with no leading or trailing space or tab.
func headerSafe(v []byte) bool {
	if len(v) == 0 || v[0] == ' ' || v[0] == '\t' || v[len(v)-1] == ' ' || v[len(v)-1] == '\t' {
		return false
	}
	for _, c := range v {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return false
		}
	}
	return true
}
