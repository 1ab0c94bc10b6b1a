// Package signature verifies and produces webhook signatures for the verification schemes
// a WebhookEndpoint can name (StandardWebhooks, GitHub, Stripe, HMAC and Token). It is pure
// logic: the caller reads the endpoint's spec and Secret, hands them over as a Config and
// []Key, and maps the returned errors to HTTP answers.
//
// Verify is the receiving side and Sign the sending side (used by `aias trigger` and by
// tests). Keys reads a Secret's data into the keys Verify accepts, newest first; a
// delivery signed with any one of them verifies, which is how a secret is rotated.
//
// Errors from Verify come in two kinds. A *Error is the delivery's fault and carries the
// HTTP status (400 or 401) and a machine-readable Reason; its Message names headers but
// never contains the secret, a signature or the body, so it can be sent back to the
// sender and logged. Any other error (it wraps ErrInvalidConfig) means the endpoint's
// own configuration or Secret is unusable; the caller should answer 5xx and surface the
// problem on the endpoint rather than blame the sender.
//
// All signature and token comparisons are constant-time, header parsing is bounded (at
// most MaxSignatureHeaderLen bytes per signature header and MaxSignatures signatures
// considered per delivery) and never panics.
package signature

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Scheme names a verification scheme; the strings are those of the WebhookEndpoint API
// (v1alpha1.VerificationScheme).
type Scheme string

const (
	// StandardWebhooks (https://www.standardwebhooks.com/): headers webhook-id,
	// webhook-timestamp (unix seconds) and webhook-signature, a space-separated list of
	// "v1,<base64 HMAC-SHA256(key, id + "." + timestamp + "." + body)>" entries. The key
	// is the secret without its "whsec_" prefix, base64-decoded. The delivery id is
	// webhook-id.
	StandardWebhooks Scheme = "StandardWebhooks"
	// GitHub: X-Hub-Signature-256 = "sha256=<hex HMAC-SHA256(secret, body)>", keyed with
	// the secret's bytes as stored. The delivery id is X-GitHub-Delivery (required).
	GitHub Scheme = "GitHub"
	// Stripe: Stripe-Signature = "t=<unix>,v1=<hex HMAC-SHA256(secret, t + "." + body)>"
	// with possibly several v1 (and other, ignored) entries, keyed with the whole secret
	// string as stored ("whsec_..." included), as stripe-go does. The delivery id is the
	// JSON body's top-level string "id" (the Stripe event id) when it is a valid delivery
	// id, else the body's hash (see BodyDeliveryID).
	Stripe Scheme = "Stripe"
	// HMAC: the header Config.HMAC.Header carries Prefix + encode(HMAC-<alg>(secret, body)),
	// keyed with the secret's bytes as stored. The delivery id is the DeliveryIDHeader
	// header when configured, else the body's hash.
	HMAC Scheme = "HMAC"
	// Token: "Authorization: Bearer <secret>", the secret as stored; no body signature.
	// The delivery id is as for HMAC.
	Token Scheme = "Token"
)

// Header names the schemes read and write, spelt as their specifications do (http.Header
// canonicalizes them on lookup).
const (
	HeaderWebhookID        = "webhook-id"
	HeaderWebhookTimestamp = "webhook-timestamp"
	HeaderWebhookSignature = "webhook-signature"
	HeaderGitHubSignature  = "X-Hub-Signature-256"
	HeaderGitHubDelivery   = "X-GitHub-Delivery"
	HeaderStripeSignature  = "Stripe-Signature"
	HeaderAuthorization    = "Authorization"
)

// Limits on what a delivery may present.
const (
	// DefaultTolerance is the timestamp tolerance used when Config.Tolerance is zero; it
	// matches the API default.
	DefaultTolerance = 5 * time.Minute
	// MaxSignatures is how many signatures of one delivery are considered (in header
	// order); any beyond are ignored.
	MaxSignatures = 16
	// MaxSignatureHeaderLen bounds the length of a signature or Authorization header;
	// longer ones are rejected as MalformedHeader.
	MaxSignatureHeaderLen = 4096
	// MaxDeliveryIDLen bounds a delivery id.
	MaxDeliveryIDLen = 256
)

// Config says how deliveries are verified; it mirrors v1alpha1.Verification.
type Config struct {
	// Scheme is the verification scheme; empty means StandardWebhooks (the API default).
	Scheme Scheme
	// Tolerance is how far a signed timestamp may be from now, in either direction, for
	// StandardWebhooks and Stripe; zero means DefaultTolerance. The comparison is exact:
	// a timestamp exactly Tolerance away is accepted.
	Tolerance time.Duration
	// HMAC configures the HMAC scheme; required for it and must be nil otherwise.
	HMAC *HMACConfig
	// DeliveryIDHeader names the header carrying the delivery id for the HMAC and Token
	// schemes (required in every delivery when set); empty means the body's hash is the
	// delivery id. Must be empty for the other schemes.
	DeliveryIDHeader string
}

// ReplayableID reports whether a captured delivery still verifies when sent again under
// another delivery id: the signature covers neither a timestamp nor the id (GitHub's
// X-GitHub-Delivery, an HMAC or Token endpoint's DeliveryIDHeader). For these schemes the
// body's digest, not the claimed id, is what identifies a delivery within the replay
// window.
func (c Config) ReplayableID() bool {
	switch c.Scheme {
	case GitHub, HMAC, Token:
		return true
	}
	return false
}

// ReplayWindow is how long a delivery must be remembered to refuse its replays: window,
// but for schemes with a signed timestamp at least twice the tolerance, because a
// delivery signed at t verifies from t-tolerance to t+tolerance.
func (c Config) ReplayWindow(window time.Duration) time.Duration {
	switch c.Scheme {
	case StandardWebhooks, Stripe, "":
		tol := c.Tolerance
		if tol <= 0 {
			tol = DefaultTolerance
		}
		return max(window, 2*tol)
	}
	return window
}

// HMACConfig configures the HMAC scheme; it mirrors v1alpha1.HMACVerification.
type HMACConfig struct {
	// Header carries the signature, e.g. X-Signature.
	Header string
	// Algorithm is "sha256" (default when empty) or "sha512".
	Algorithm string
	// Encoding is "hex" (default when empty; either case accepted) or "base64" (standard
	// alphabet, padded or not).
	Encoding string
	// Prefix precedes the encoded signature in the header, e.g. "sha256="; matched exactly.
	Prefix string
}

// ErrInvalidConfig is wrapped by errors that mean the Config or the keys are unusable,
// as opposed to a bad delivery (*Error).
var ErrInvalidConfig = errors.New("invalid signature configuration")

// Validate reports whether c is usable; the error wraps ErrInvalidConfig.
func (c Config) Validate() error {
	_, err := c.normalize()
	return err
}

// normalize applies defaults and validates c.
func (c Config) normalize() (Config, error) {
	if c.Scheme == "" {
		c.Scheme = StandardWebhooks
	}
	switch c.Scheme {
	case StandardWebhooks, GitHub, Stripe, HMAC, Token:
	default:
		return c, configError("unknown scheme %q", string(c.Scheme))
	}
	if c.Tolerance < 0 {
		return c, configError("negative tolerance %v", c.Tolerance)
	}
	if c.Tolerance == 0 {
		c.Tolerance = DefaultTolerance
	}
	if (c.Scheme == HMAC) != (c.HMAC != nil) {
		return c, configError("hmac must be set when, and only when, the scheme is HMAC")
	}
	if c.HMAC != nil {
		hc := *c.HMAC
		if !isToken(hc.Header) {
			return c, configError("hmac header %q is not a valid header name", hc.Header)
		}
		switch hc.Algorithm {
		case "":
			hc.Algorithm = "sha256"
		case "sha256", "sha512":
		default:
			return c, configError("unknown hmac algorithm %q (want sha256 or sha512)", hc.Algorithm)
		}
		switch hc.Encoding {
		case "":
			hc.Encoding = "hex"
		case "hex", "base64":
		default:
			return c, configError("unknown hmac encoding %q (want hex or base64)", hc.Encoding)
		}
		c.HMAC = &hc
	}
	if c.DeliveryIDHeader != "" {
		if c.Scheme != HMAC && c.Scheme != Token {
			return c, configError("deliveryIDHeader applies to the HMAC and Token schemes only")
		}
		if !isToken(c.DeliveryIDHeader) {
			return c, configError("deliveryIDHeader %q is not a valid header name", c.DeliveryIDHeader)
		}
	}
	return c, nil
}

func configError(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
}

// isToken reports whether s is a non-empty HTTP header name of letters, digits and '-'
// (the API's pattern).
func isToken(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// Error reasons, for the "reason" of the HTTP error body.
const (
	// ReasonMissingHeader (400): a header the scheme requires is absent or empty.
	ReasonMissingHeader = "MissingHeader"
	// ReasonMalformedHeader (400): a header is present but cannot be parsed, is repeated,
	// is too long, has control characters, or a delivery id is not a valid delivery id.
	ReasonMalformedHeader = "MalformedHeader"
	// ReasonInvalidSignature (401): no presented signature (or token) matches any key.
	ReasonInvalidSignature = "InvalidSignature"
	// ReasonTimestampOutOfTolerance (401): the signature matches but the signed timestamp
	// is further than the tolerance from now, in the past or in the future.
	ReasonTimestampOutOfTolerance = "TimestampOutOfTolerance"
)

// Error is a delivery Verify rejects. Status is the HTTP status to answer (400 for
// MissingHeader and MalformedHeader, 401 for InvalidSignature and
// TimestampOutOfTolerance), Reason one of the Reason constants, and Message a
// human-readable explanation that may name headers but never contains the secret, a
// signature, a header's value or the body.
type Error struct {
	Status  int
	Reason  string
	Message string
}

func (e *Error) Error() string { return e.Message }

func missingHeader(name string) error {
	return &Error{Status: http.StatusBadRequest, Reason: ReasonMissingHeader, Message: "missing header " + name}
}

func malformedHeader(name, problem string) error {
	return &Error{Status: http.StatusBadRequest, Reason: ReasonMalformedHeader, Message: "malformed header " + name + ": " + problem}
}

func invalidSignature(msg string) error {
	return &Error{Status: http.StatusUnauthorized, Reason: ReasonInvalidSignature, Message: msg}
}

// Verify checks a delivery (its headers h and raw body) against keys, as cfg says, at
// time now, and returns its delivery id: a non-empty string of at most MaxDeliveryIDLen
// printable ASCII characters without spaces. A delivery signed with any one of keys
// verifies. A rejected delivery yields a *Error; an unusable cfg or keys (no keys, none
// usable by the scheme) an error wrapping ErrInvalidConfig. Keys unusable by the scheme
// (empty, or for StandardWebhooks not base64) are skipped; CheckKeys reports them.
//
// Headers are looked up by canonical name (as net/http stores them); each header the
// scheme reads must appear at most once. The signature is checked before the timestamp,
// so TimestampOutOfTolerance is only reported to the holder of a key.
func Verify(cfg Config, keys []Key, h http.Header, body []byte, now time.Time) (deliveryID string, err error) {
	v, err := NewVerifier(cfg, keys, h, now)
	if err != nil {
		return "", err
	}
	_, _ = v.Write(body)
	if err := v.Verify(); err != nil {
		return "", err
	}
	return v.DeliveryID(body), nil
}

// Sign returns the headers a sender signing body with key at time now would send, as
// cfg says. deliveryID is sent in webhook-id (StandardWebhooks), X-GitHub-Delivery
// (GitHub) or the DeliveryIDHeader (HMAC and Token, when configured) and must then be a
// valid delivery id; it is ignored otherwise (Stripe derives the id from the body, and
// HMAC and Token without DeliveryIDHeader from the body's hash). Verify with cfg and key
// accepts the result. Only signature-related headers are set.
func Sign(cfg Config, key Key, deliveryID string, body []byte, now time.Time) (http.Header, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if err := checkKey(cfg.Scheme, key); err != nil {
		return nil, err
	}
	needsID := cfg.Scheme == StandardWebhooks || cfg.Scheme == GitHub || cfg.DeliveryIDHeader != ""
	if needsID && !ValidDeliveryID(deliveryID) {
		return nil, fmt.Errorf("delivery id must be 1 to %d printable ASCII characters without spaces", MaxDeliveryIDLen)
	}
	h := http.Header{}
	switch cfg.Scheme {
	case StandardWebhooks:
		signStandardWebhooks(h, key, deliveryID, body, now)
	case GitHub:
		signGitHub(h, key, deliveryID, body)
	case Stripe:
		signStripe(h, key, body, now)
	case HMAC:
		signHMAC(cfg, h, key, deliveryID, body)
	default: // Token
		signToken(cfg, h, key, deliveryID)
	}
	return h, nil
}

// ValidDeliveryID reports whether id is a valid delivery id: 1 to MaxDeliveryIDLen bytes,
// each printable ASCII other than space (0x21 to 0x7e).
func ValidDeliveryID(id string) bool {
	if id == "" || len(id) > MaxDeliveryIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// BodyDeliveryID is the delivery id of a body when the scheme carries none:
// "sha256:" followed by the lowercase hex SHA-256 of body.
func BodyDeliveryID(body []byte) string {
	sum := sha256.Sum256(body)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// header returns the single value of header name, bounded by maxLen.
func header(h http.Header, name string, maxLen int) (string, error) {
	vals := h.Values(name)
	switch {
	case len(vals) == 0 || len(vals) == 1 && vals[0] == "":
		return "", missingHeader(name)
	case len(vals) > 1:
		return "", malformedHeader(name, "repeated")
	case len(vals[0]) > maxLen:
		return "", malformedHeader(name, fmt.Sprintf("longer than %d bytes", maxLen))
	}
	// net/http never delivers these, but decoders skip some of them (base64 ignores
	// line breaks): refuse rather than accept a non-canonical signature.
	for i := 0; i < len(vals[0]); i++ {
		if c := vals[0][i]; c < 0x20 && c != '\t' || c == 0x7f {
			return "", malformedHeader(name, "contains control characters")
		}
	}
	return vals[0], nil
}

// deliveryIDHeader returns the delivery id in header name.
func deliveryIDHeader(h http.Header, name string) (string, error) {
	v, err := header(h, name, MaxDeliveryIDLen)
	if err != nil {
		return "", err
	}
	if !ValidDeliveryID(v) {
		return "", malformedHeader(name, fmt.Sprintf("a delivery id must be 1 to %d printable ASCII characters without spaces", MaxDeliveryIDLen))
	}
	return v, nil
}

// configuredDeliveryID reads the delivery id from the header the endpoint names, for the
// schemes whose signature carries none (HMAC, Token); "" when no header is configured.
func configuredDeliveryID(cfg Config, h http.Header) (string, error) {
	if cfg.DeliveryIDHeader == "" {
		return "", nil
	}
	return deliveryIDHeader(h, cfg.DeliveryIDHeader)
}

// parseUnix parses a timestamp in unix seconds: decimal digits without sign or leading
// zeros, at most 15 of them (far beyond any plausible clock, and safe from overflow).
func parseUnix(s string) (int64, bool) {
	if s == "" || len(s) > 15 || s[0] == '0' && len(s) > 1 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// checkTolerance rejects a signed timestamp ts further than tol from now.
func checkTolerance(name string, ts int64, now time.Time, tol time.Duration) error {
	d := now.Sub(time.Unix(ts, 0)) // saturates rather than overflows
	switch {
	case d > tol:
		return &Error{Status: http.StatusUnauthorized, Reason: ReasonTimestampOutOfTolerance,
			Message: fmt.Sprintf("%s is %v in the past, beyond the %v tolerance (check the sender's clock, or this is a replay)", name, d.Truncate(time.Second), tol)}
	case d < -tol:
		return &Error{Status: http.StatusUnauthorized, Reason: ReasonTimestampOutOfTolerance,
			Message: fmt.Sprintf("%s is %v in the future, beyond the %v tolerance (check the sender's clock)", name, (-d).Truncate(time.Second), tol)}
	}
	return nil
}
