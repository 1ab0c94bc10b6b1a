package signature

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"net/http"
	"strconv"
	"time"
)

// usableKeyBytes returns the HMAC key (or token) of every key scheme can use, in order,
// and fails with ErrInvalidConfig when none is usable.
func usableKeyBytes(scheme Scheme, keys []Key) ([][]byte, error) {
	var usable [][]byte
	for _, k := range keys {
		if checkKey(scheme, k) != nil {
			continue
		}
		v := k.Value
		if scheme == StandardWebhooks {
			v, _ = standardWebhooksKey(k)
		}
		usable = append(usable, v)
	}
	if len(usable) == 0 {
		return nil, configError("no signing key is usable by scheme %s (see CheckKeys)", scheme)
	}
	return usable, nil
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
