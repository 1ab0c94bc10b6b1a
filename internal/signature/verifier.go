package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"net/http"
	"strings"
	"time"
)

// Verifier checks one delivery while its body streams in, so that the receiver never has
// to hold a body it cannot yet trust: NewVerifier checks the headers (a malformed or
// missing one fails before a byte of the body is read), Write feeds the body to one MAC
// per usable key (and to the SHA-256 that names the body), and Verify decides. A body too
// large to keep can still be verified to the end while the receiver keeps none of it, so
// that only a caller holding a key learns that its delivery was too large.
//
// The cost of a delivery is bounded by the body's length times the number of keys, and
// Keys returns at most MaxKeys of them.
type Verifier struct {
	cfg Config
	now time.Time

	// id is the delivery id the headers carry; "" when it comes from the body (Stripe,
	// HMAC and Token without a DeliveryIDHeader).
	id string
	// ts and tsName are the signed timestamp to hold to the tolerance (StandardWebhooks,
	// Stripe); tsName is "" for schemes without one.
	ts     int64
	tsName string

	// macs are fed the body, one per usable key, already fed the signed prefix; finish
	// encodes a MAC the way the scheme's header carries it.
	macs   []hash.Hash
	sent   [][]byte
	finish func(mac []byte) []byte
	// tokenMatched is the Token scheme's verdict, known from the headers alone.
	tokenMatched bool
	// mismatch is the *Error of a delivery no key verifies.
	mismatch string

	body hash.Hash
	size int64
}

// NewVerifier starts verifying a delivery with headers h against keys, as cfg says, at
// time now. A header the scheme needs that is missing or malformed yields a *Error (400);
// an unusable cfg or no usable key an error wrapping ErrInvalidConfig.
func NewVerifier(cfg Config, keys []Key, h http.Header, now time.Time) (*Verifier, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, configError("no signing keys")
	}
	v := &Verifier{cfg: cfg, now: now, body: sha256.New()}
	switch cfg.Scheme {
	case StandardWebhooks:
		err = v.standardWebhooks(keys, h)
	case GitHub:
		err = v.github(keys, h)
	case Stripe:
		err = v.stripe(keys, h)
	case HMAC:
		err = v.hmac(keys, h)
	default: // Token
		err = v.token(keys, h)
	}
	if err != nil {
		return nil, err
	}
	return v, nil
}

// Write feeds the next bytes of the body; it never fails.
func (v *Verifier) Write(p []byte) (int, error) {
	for _, m := range v.macs {
		m.Write(p)
	}
	v.body.Write(p)
	v.size += int64(len(p))
	return len(p), nil
}

// Size is how many body bytes were written.
func (v *Verifier) Size() int64 { return v.size }

// BodySHA256 is the SHA-256 of the body written so far.
func (v *Verifier) BodySHA256() [sha256.Size]byte {
	var sum [sha256.Size]byte
	v.body.Sum(sum[:0])
	return sum
}

// Verify reports, once the whole body was written, whether the delivery verifies: nil, or
// a *Error (401). The signature is checked before the timestamp, so
// TimestampOutOfTolerance is only reported to the holder of a key.
func (v *Verifier) Verify() error {
	matched := v.tokenMatched
	for _, m := range v.macs {
		if anyEqual(v.sent, v.finish(m.Sum(nil))) {
			matched = true
		}
	}
	if !matched {
		return invalidSignature(v.mismatch)
	}
	if v.tsName != "" {
		return checkTolerance(v.tsName, v.ts, v.now, v.cfg.Tolerance)
	}
	return nil
}

// IDFromBody reports that DeliveryID reads the body (a Stripe event's id); otherwise
// it may be given nil, and a body not yet joined need not be (intake.Body.Bytes).
func (v *Verifier) IDFromBody() bool { return v.id == "" && v.cfg.Scheme == Stripe }

// DeliveryID is the verified delivery's id: the one its headers carry, else for Stripe
// the event id in body (the whole body, as written), else the body's hash
// (BodyDeliveryID).
func (v *Verifier) DeliveryID(body []byte) string {
	if v.id != "" {
		return v.id
	}
	if v.cfg.Scheme == Stripe {
		if id, ok := stripeEventID(body); ok {
			return id
		}
	}
	sum := v.BodySHA256()
	return "sha256:" + hex.EncodeToString(sum[:])
}

// macsFor starts one HMAC per usable key, each fed prefix.
func (v *Verifier) macsFor(scheme Scheme, keys []Key, newHash func() hash.Hash, prefix ...string) error {
	usable, err := usableKeyBytes(scheme, keys)
	if err != nil {
		return err
	}
	for _, k := range usable {
		m := hmac.New(newHash, k)
		for _, p := range prefix {
			m.Write([]byte(p))
		}
		v.macs = append(v.macs, m)
	}
	return nil
}

func identity(mac []byte) []byte { return mac }

func (v *Verifier) standardWebhooks(keys []Key, h http.Header) error {
	id, err := deliveryIDHeader(h, HeaderWebhookID)
	if err != nil {
		return err
	}
	tsHeader, err := header(h, HeaderWebhookTimestamp, 32)
	if err != nil {
		return err
	}
	sigHeader, err := header(h, HeaderWebhookSignature, MaxSignatureHeaderLen)
	if err != nil {
		return err
	}
	ts, ok := parseUnix(tsHeader)
	if !ok {
		return malformedHeader(HeaderWebhookTimestamp, "not a unix time in seconds")
	}
	// Entries are "<version>,<signature>" separated by spaces; only v1 is HMAC-SHA256,
	// others (such as v1a, asymmetric) are ignored. The signature is compared in its
	// base64 form, as the reference library does.
	entries := 0
	for entry := range strings.SplitSeq(sigHeader, " ") {
		if len(v.sent) == MaxSignatures {
			break
		}
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version == "" || sig == "" {
			continue
		}
		entries++
		if version == "v1" {
			v.sent = append(v.sent, []byte(sig))
		}
	}
	if entries == 0 {
		return malformedHeader(HeaderWebhookSignature, `no "<version>,<signature>" entry`)
	}
	v.id, v.ts, v.tsName = id, ts, HeaderWebhookTimestamp
	v.finish = func(mac []byte) []byte { return base64.StdEncoding.AppendEncode(nil, mac) }
	v.mismatch = "no v1 signature in webhook-signature matches the endpoint's secret"
	return v.macsFor(StandardWebhooks, keys, sha256.New, id, ".", tsHeader, ".")
}

func (v *Verifier) github(keys []Key, h http.Header) error {
	id, err := deliveryIDHeader(h, HeaderGitHubDelivery)
	if err != nil {
		return err
	}
	sigHeader, err := header(h, HeaderGitHubSignature, MaxSignatureHeaderLen)
	if err != nil {
		return err
	}
	hexSig, ok := strings.CutPrefix(sigHeader, githubPrefix)
	if !ok {
		return malformedHeader(HeaderGitHubSignature, `does not start with "sha256="`)
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil || len(sig) != sha256.Size {
		return malformedHeader(HeaderGitHubSignature, "not a hex HMAC-SHA256")
	}
	v.id, v.sent, v.finish = id, [][]byte{sig}, identity
	v.mismatch = "X-Hub-Signature-256 does not match the endpoint's secret"
	return v.macsFor(GitHub, keys, sha256.New)
}

func (v *Verifier) stripe(keys []Key, h http.Header) error {
	sigHeader, err := header(h, HeaderStripeSignature, MaxSignatureHeaderLen)
	if err != nil {
		return err
	}
	// "t=<unix>,v1=<hex>[,v1=<hex>...][,<other scheme>=<value>...]": exactly one t; v1
	// entries that are not a hex HMAC-SHA256 are ignored, as are other schemes (v0).
	var tsHeader string
	haveTS := false
	for pair := range strings.SplitSeq(sigHeader, ",") {
		k, val, ok := strings.Cut(pair, "=")
		if !ok {
			return malformedHeader(HeaderStripeSignature, `an entry is not "key=value"`)
		}
		switch k {
		case "t":
			if haveTS {
				return malformedHeader(HeaderStripeSignature, "repeated t")
			}
			tsHeader, haveTS = val, true
		case "v1":
			if len(v.sent) >= MaxSignatures {
				continue
			}
			if sig, err := hex.DecodeString(val); err == nil && len(sig) == sha256.Size {
				v.sent = append(v.sent, sig)
			}
		}
	}
	if !haveTS {
		return malformedHeader(HeaderStripeSignature, "no t= timestamp")
	}
	ts, ok := parseUnix(tsHeader)
	if !ok {
		return malformedHeader(HeaderStripeSignature, "t is not a unix time in seconds")
	}
	v.ts, v.tsName, v.finish = ts, "Stripe-Signature timestamp", identity
	v.mismatch = "no v1 signature in Stripe-Signature matches the endpoint's secret"
	if len(v.sent) == 0 {
		v.mismatch = "Stripe-Signature has no v1 signature"
	}
	return v.macsFor(Stripe, keys, sha256.New, tsHeader, ".")
}

func (v *Verifier) hmac(keys []Key, h http.Header) error {
	hc := v.cfg.HMAC
	sigHeader, err := header(h, hc.Header, MaxSignatureHeaderLen)
	if err != nil {
		return err
	}
	if v.id, err = configuredDeliveryID(v.cfg, h); err != nil {
		return err
	}
	encoded, ok := strings.CutPrefix(sigHeader, hc.Prefix)
	if !ok {
		return malformedHeader(hc.Header, fmt.Sprintf("does not start with the configured prefix (%d bytes)", len(hc.Prefix)))
	}
	var sig []byte
	if hc.Encoding == "base64" {
		// Strict: only the canonical encoding of a signature is accepted.
		sig, err = base64.StdEncoding.Strict().DecodeString(encoded)
		if err != nil {
			sig, err = base64.RawStdEncoding.Strict().DecodeString(encoded)
		}
	} else {
		sig, err = hex.DecodeString(encoded)
	}
	newHash := hmacHash(hc.Algorithm)
	if err != nil || len(sig) != newHash().Size() {
		return malformedHeader(hc.Header, fmt.Sprintf("not a %s HMAC-%s", hc.Encoding, strings.ToUpper(hc.Algorithm)))
	}
	v.sent, v.finish = [][]byte{sig}, identity
	v.mismatch = hc.Header + " does not match the endpoint's secret"
	return v.macsFor(HMAC, keys, newHash)
}

func (v *Verifier) token(keys []Key, h http.Header) error {
	auth, err := header(h, HeaderAuthorization, MaxSignatureHeaderLen)
	if err != nil {
		return err
	}
	if v.id, err = configuredDeliveryID(v.cfg, h); err != nil {
		return err
	}
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return malformedHeader(HeaderAuthorization, `not "Bearer <token>"`)
	}
	usable, err := usableKeyBytes(Token, keys)
	if err != nil {
		return err
	}
	// Compare digests so that neither the comparison time nor its early exit on a length
	// mismatch tells anything about the token.
	presented := sha256.Sum256([]byte(token))
	for _, k := range usable {
		want := sha256.Sum256(k)
		if subtle.ConstantTimeCompare(presented[:], want[:]) == 1 {
			v.tokenMatched = true
		}
	}
	v.mismatch = "the bearer token does not match the endpoint's secret"
	return nil
}
