package signature

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// usableKeys calls f with the HMAC key (or token) of every key scheme can use, until f
// returns true; it reports whether f did, and fails with ErrInvalidConfig when no key
// was usable.
func usableKeys(scheme Scheme, keys []Key, f func(k []byte) bool) (bool, error) {
	usable := 0
	for _, k := range keys {
		if checkKey(scheme, k) != nil {
			continue
		}
		usable++
		v := k.Value
		if scheme == StandardWebhooks {
			v, _ = standardWebhooksKey(k)
		}
		if f(v) {
			return true, nil
		}
	}
	if usable == 0 {
		return false, configError("no signing key is usable by scheme %s (see CheckKeys)", scheme)
	}
	return false, nil
}

// --- StandardWebhooks ---

func standardWebhooksMAC(key []byte, id, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

func verifyStandardWebhooks(cfg Config, keys []Key, h http.Header, body []byte, now time.Time) (string, error) {
	id, err := deliveryIDHeader(h, HeaderWebhookID)
	if err != nil {
		return "", err
	}
	tsHeader, err := header(h, HeaderWebhookTimestamp, 32)
	if err != nil {
		return "", err
	}
	sigHeader, err := header(h, HeaderWebhookSignature, MaxSignatureHeaderLen)
	if err != nil {
		return "", err
	}
	ts, ok := parseUnix(tsHeader)
	if !ok {
		return "", malformedHeader(HeaderWebhookTimestamp, "not a unix time in seconds")
	}
	// Entries are "<version>,<signature>" separated by spaces; only v1 is HMAC-SHA256,
	// others (such as v1a, asymmetric) are ignored. The signature is compared in its
	// base64 form, as the reference library does.
	var v1 [][]byte
	entries := 0
	for entry := range strings.SplitSeq(sigHeader, " ") {
		if len(v1) == MaxSignatures {
			break
		}
		version, sig, ok := strings.Cut(entry, ",")
		if !ok || version == "" || sig == "" {
			continue
		}
		entries++
		if version == "v1" {
			v1 = append(v1, []byte(sig))
		}
	}
	if entries == 0 {
		return "", malformedHeader(HeaderWebhookSignature, `no "<version>,<signature>" entry`)
	}
	expected := make([]byte, 0, base64.StdEncoding.EncodedLen(sha256.Size))
	matched, err := usableKeys(StandardWebhooks, keys, func(k []byte) bool {
		expected = base64.StdEncoding.AppendEncode(expected[:0], standardWebhooksMAC(k, id, tsHeader, body))
		return anyEqual(v1, expected)
	})
	if err != nil {
		return "", err
	}
	if !matched {
		return "", invalidSignature("no v1 signature in webhook-signature matches the endpoint's secret")
	}
	if err := checkTolerance(HeaderWebhookTimestamp, ts, now, cfg.Tolerance); err != nil {
		return "", err
	}
	return id, nil
}

func signStandardWebhooks(h http.Header, key Key, id string, body []byte, now time.Time) {
	k, _ := standardWebhooksKey(key) // checked by Sign
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(HeaderWebhookID, id)
	h.Set(HeaderWebhookTimestamp, ts)
	h.Set(HeaderWebhookSignature, "v1,"+base64.StdEncoding.EncodeToString(standardWebhooksMAC(k, id, ts, body)))
}

// --- GitHub ---

const githubPrefix = "sha256="

func bodyMAC(newHash func() hash.Hash, key, body []byte) []byte {
	m := hmac.New(newHash, key)
	m.Write(body)
	return m.Sum(nil)
}

func verifyGitHub(keys []Key, h http.Header, body []byte) (string, error) {
	id, err := deliveryIDHeader(h, HeaderGitHubDelivery)
	if err != nil {
		return "", err
	}
	sigHeader, err := header(h, HeaderGitHubSignature, MaxSignatureHeaderLen)
	if err != nil {
		return "", err
	}
	hexSig, ok := strings.CutPrefix(sigHeader, githubPrefix)
	if !ok {
		return "", malformedHeader(HeaderGitHubSignature, `does not start with "sha256="`)
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil || len(sig) != sha256.Size {
		return "", malformedHeader(HeaderGitHubSignature, "not a hex HMAC-SHA256")
	}
	matched, err := usableKeys(GitHub, keys, func(k []byte) bool {
		return hmac.Equal(sig, bodyMAC(sha256.New, k, body))
	})
	if err != nil {
		return "", err
	}
	if !matched {
		return "", invalidSignature("X-Hub-Signature-256 does not match the endpoint's secret")
	}
	return id, nil
}

func signGitHub(h http.Header, key Key, id string, body []byte) {
	h.Set(HeaderGitHubDelivery, id)
	h.Set(HeaderGitHubSignature, githubPrefix+hex.EncodeToString(bodyMAC(sha256.New, key.Value, body)))
}

// --- Stripe ---

func stripeMAC(key []byte, ts string, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

func verifyStripe(cfg Config, keys []Key, h http.Header, body []byte, now time.Time) (string, error) {
	sigHeader, err := header(h, HeaderStripeSignature, MaxSignatureHeaderLen)
	if err != nil {
		return "", err
	}
	// "t=<unix>,v1=<hex>[,v1=<hex>...][,<other scheme>=<value>...]": exactly one t; v1
	// entries that are not a hex HMAC-SHA256 are ignored, as are other schemes (v0).
	var (
		tsHeader string
		haveTS   bool
		v1       [][]byte
	)
	for pair := range strings.SplitSeq(sigHeader, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			return "", malformedHeader(HeaderStripeSignature, `an entry is not "key=value"`)
		}
		switch k {
		case "t":
			if haveTS {
				return "", malformedHeader(HeaderStripeSignature, "repeated t")
			}
			tsHeader, haveTS = v, true
		case "v1":
			if len(v1) >= MaxSignatures {
				continue
			}
			if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
				v1 = append(v1, sig)
			}
		}
	}
	if !haveTS {
		return "", malformedHeader(HeaderStripeSignature, "no t= timestamp")
	}
	ts, ok := parseUnix(tsHeader)
	if !ok {
		return "", malformedHeader(HeaderStripeSignature, "t is not a unix time in seconds")
	}
	if len(v1) == 0 {
		return "", invalidSignature("Stripe-Signature has no v1 signature")
	}
	matched, err := usableKeys(Stripe, keys, func(k []byte) bool { return anyEqual(v1, stripeMAC(k, tsHeader, body)) })
	if err != nil {
		return "", err
	}
	if !matched {
		return "", invalidSignature("no v1 signature in Stripe-Signature matches the endpoint's secret")
	}
	if err := checkTolerance("Stripe-Signature timestamp", ts, now, cfg.Tolerance); err != nil {
		return "", err
	}
	if id, ok := stripeEventID(body); ok {
		return id, nil
	}
	return BodyDeliveryID(body), nil
}

// stripeEventID returns the string value of the top-level "id" member of a JSON object
// body (exact key match, the first one), if it is a valid delivery id.
func stripeEventID(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return "", false
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		if key, _ := tok.(string); key == "id" {
			tok, err := dec.Token()
			id, isString := tok.(string)
			if err != nil || !isString || !ValidDeliveryID(id) {
				return "", false
			}
			return id, true
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return "", false
		}
	}
	return "", false
}

func signStripe(h http.Header, key Key, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	h.Set(HeaderStripeSignature, "t="+ts+",v1="+hex.EncodeToString(stripeMAC(key.Value, ts, body)))
}

// --- HMAC ---

func hmacHash(alg string) func() hash.Hash {
	if alg == "sha512" {
		return sha512.New
	}
	return sha256.New
}

func verifyHMAC(cfg Config, keys []Key, h http.Header, body []byte) (string, error) {
	hc := cfg.HMAC
	sigHeader, err := header(h, hc.Header, MaxSignatureHeaderLen)
	if err != nil {
		return "", err
	}
	id, err := configuredDeliveryID(cfg, h)
	if err != nil {
		return "", err
	}
	encoded, ok := strings.CutPrefix(sigHeader, hc.Prefix)
	if !ok {
		return "", malformedHeader(hc.Header, fmt.Sprintf("does not start with the configured prefix (%d bytes)", len(hc.Prefix)))
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
		return "", malformedHeader(hc.Header, fmt.Sprintf("not a %s HMAC-%s", hc.Encoding, strings.ToUpper(hc.Algorithm)))
	}
	matched, err := usableKeys(HMAC, keys, func(k []byte) bool {
		return hmac.Equal(sig, bodyMAC(newHash, k, body))
	})
	if err != nil {
		return "", err
	}
	if !matched {
		return "", invalidSignature(hc.Header + " does not match the endpoint's secret")
	}
	if id == "" {
		id = BodyDeliveryID(body)
	}
	return id, nil
}

func signHMAC(cfg Config, h http.Header, key Key, id string, body []byte) {
	hc := cfg.HMAC
	mac := bodyMAC(hmacHash(hc.Algorithm), key.Value, body)
	var encoded string
	if hc.Encoding == "base64" {
		encoded = base64.StdEncoding.EncodeToString(mac)
	} else {
		encoded = hex.EncodeToString(mac)
	}
	h.Set(hc.Header, hc.Prefix+encoded)
	if cfg.DeliveryIDHeader != "" {
		h.Set(cfg.DeliveryIDHeader, id)
	}
}

// --- Token ---

func verifyToken(cfg Config, keys []Key, h http.Header, body []byte) (string, error) {
	auth, err := header(h, HeaderAuthorization, MaxSignatureHeaderLen)
	if err != nil {
		return "", err
	}
	id, err := configuredDeliveryID(cfg, h)
	if err != nil {
		return "", err
	}
	scheme, token, ok := strings.Cut(auth, " ")
	token = strings.TrimLeft(token, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", malformedHeader(HeaderAuthorization, `not "Bearer <token>"`)
	}
	// Compare digests so that neither the comparison time nor its early exit on a length
	// mismatch tells anything about the token.
	presented := sha256.Sum256([]byte(token))
	matched, err := usableKeys(Token, keys, func(k []byte) bool {
		want := sha256.Sum256(k)
		return subtle.ConstantTimeCompare(presented[:], want[:]) == 1
	})
	if err != nil {
		return "", err
	}
	if !matched {
		return "", invalidSignature("the bearer token does not match the endpoint's secret")
	}
	if id == "" {
		id = BodyDeliveryID(body)
	}
	return id, nil
}

func signToken(cfg Config, h http.Header, key Key, id string) {
	h.Set(HeaderAuthorization, "Bearer "+string(key.Value))
	if cfg.DeliveryIDHeader != "" {
		h.Set(cfg.DeliveryIDHeader, id)
	}
}

// anyEqual reports, in constant time per candidate, whether one of the sent signatures
// is the expected one (several signatures accompany a key rotation).
func anyEqual(sent [][]byte, expected []byte) bool {
	for _, sig := range sent {
		if hmac.Equal(sig, expected) {
			return true
		}
	}
	return false
}
