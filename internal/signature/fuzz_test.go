package signature

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzTolerance is small so that the oracle can try every timestamp in the window.
const fuzzTolerance = 5 * time.Second

// fuzzScheme says where FuzzVerify puts its inputs and how an independent oracle
// recognises a genuinely signed delivery.
type fuzzScheme struct {
	cfg                           Config
	sigHeader, idHeader, tsHeader string // "" when the scheme has no such header
	// genuine reports whether the presented signature header value sig carries a
	// signature (or token) that the holder of key produced for (id, ts, body). It is
	// written from the scheme descriptions, not from the package's code.
	genuine func(key []byte, sig, id, ts string, body []byte) bool
}

func hmacOf(alg string, key []byte, parts ...[]byte) []byte {
	h := hmac.New(sha256.New, key)
	if alg == "sha512" {
		h = hmac.New(sha512.New, key)
	}
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func withinFuzzTolerance(ts int64) bool {
	return ts >= testNow.Add(-fuzzTolerance).Unix() && ts <= testNow.Add(fuzzTolerance).Unix()
}

var fuzzSchemes = []fuzzScheme{
	{
		cfg:       Config{Scheme: StandardWebhooks, Tolerance: fuzzTolerance},
		sigHeader: "webhook-signature", idHeader: "webhook-id", tsHeader: "webhook-timestamp",
		genuine: func(key []byte, sig, id, ts string, body []byte) bool {
			k, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(string(key), "whsec_"))
			if err != nil {
				panic(err)
			}
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || !withinFuzzTolerance(n) {
				return false
			}
			want := "v1," + base64.StdEncoding.EncodeToString(hmacOf("sha256", k, []byte(id+"."+ts+"."), body))
			return strings.Contains(sig, want)
		},
	},
	{
		cfg:       Config{Scheme: GitHub},
		sigHeader: "X-Hub-Signature-256", idHeader: "X-GitHub-Delivery",
		genuine: func(key []byte, sig, _, _ string, body []byte) bool {
			return strings.EqualFold(sig, "sha256="+hex.EncodeToString(hmacOf("sha256", key, body)))
		},
	},
	{
		cfg:       Config{Scheme: Stripe, Tolerance: fuzzTolerance},
		sigHeader: "Stripe-Signature",
		genuine: func(key []byte, sig, _, _ string, body []byte) bool {
			lower := strings.ToLower(sig)
			for ts := testNow.Add(-fuzzTolerance).Unix(); ts <= testNow.Add(fuzzTolerance).Unix(); ts++ {
				t := strconv.FormatInt(ts, 10)
				if strings.Contains(sig, "t="+t) && strings.Contains(lower, "v1="+hex.EncodeToString(hmacOf("sha256", key, []byte(t+"."), body))) {
					return true
				}
			}
			return false
		},
	},
	{
		cfg:       Config{Scheme: HMAC, HMAC: &HMACConfig{Header: "X-Signature", Prefix: "sha256="}, DeliveryIDHeader: "X-Delivery-Id"},
		sigHeader: "X-Signature", idHeader: "X-Delivery-Id",
		genuine: func(key []byte, sig, _, _ string, body []byte) bool {
			return strings.EqualFold(sig, "sha256="+hex.EncodeToString(hmacOf("sha256", key, body)))
		},
	},
	{
		cfg:       Config{Scheme: HMAC, HMAC: &HMACConfig{Header: "X-Sig", Algorithm: "sha512", Encoding: "base64"}},
		sigHeader: "X-Sig",
		genuine: func(key []byte, sig, _, _ string, body []byte) bool {
			m := hmacOf("sha512", key, body)
			return sig == base64.StdEncoding.EncodeToString(m) || sig == base64.RawStdEncoding.EncodeToString(m)
		},
	},
	{
		cfg:       Config{Scheme: Token, DeliveryIDHeader: "X-Request-Id"},
		sigHeader: "Authorization", idHeader: "X-Request-Id",
		genuine: func(key []byte, sig, _, _ string, _ []byte) bool {
			return strings.Contains(sig, string(key))
		},
	},
	{
		cfg:       Config{Scheme: Token},
		sigHeader: "Authorization",
		genuine: func(key []byte, sig, _, _ string, _ []byte) bool {
			return strings.Contains(sig, string(key))
		},
	},
}

// FuzzVerify feeds arbitrary signature, id and timestamp headers and bodies to every
// scheme. Verify must not panic, must answer a *Error (400 or 401, a known reason,
// a message without the secrets) whenever it refuses, and may accept only when an
// independent oracle confirms that the signature header carries a signature one of the
// keys made for exactly this body, id and timestamp — i.e. it never accepts a delivery
// not signed with a key. The seed corpus holds a genuinely signed delivery per scheme
// and key, so mutations of the body or of the signature start from accepted inputs.
func FuzzVerify(f *testing.F) {
	bodies := [][]byte{testBody, {}, []byte("Hello, World!")}
	for i, fs := range fuzzSchemes {
		for _, key := range testKeys {
			for _, body := range bodies {
				for _, at := range []time.Time{testNow, testNow.Add(-fuzzTolerance), testNow.Add(fuzzTolerance + time.Second)} {
					h, err := Sign(fs.cfg, key, "msg_p5jXN8AQM9LWM0D4", body, at)
					if err != nil {
						f.Fatal(err)
					}
					var id, ts string
					if fs.idHeader != "" {
						id = h.Get(fs.idHeader)
					}
					if fs.tsHeader != "" {
						ts = h.Get(fs.tsHeader)
					}
					f.Add(uint8(i), body, h.Get(fs.sigHeader), id, ts)
				}
			}
		}
		f.Add(uint8(i), []byte("x"), "", "", "")
		f.Add(uint8(i), []byte("x"), "v1,=,t=,v1= ,, sha256=", "a b", "-0")
		f.Add(uint8(i), []byte(nil), "Bearer  ", "\x00", "1700000000")
		f.Add(uint8(i), []byte("{}"), "t=1700000000,v1=00,v1=zz,t", "é", "01700000000")
	}

	f.Fuzz(func(t *testing.T, scheme uint8, body []byte, sig, id, ts string) {
		fs := fuzzSchemes[int(scheme)%len(fuzzSchemes)]
		h := http.Header{}
		h.Set(fs.sigHeader, sig)
		if fs.idHeader != "" {
			h.Set(fs.idHeader, id)
		}
		if fs.tsHeader != "" {
			h.Set(fs.tsHeader, ts)
		}
		got, err := Verify(fs.cfg, testKeys, h, body, testNow)
		if err != nil {
			var se *Error
			if !errors.As(err, &se) {
				t.Fatalf("%s: error %v is not a *Error", fs.cfg.Scheme, err)
			}
			switch {
			case se.Status == 400 && (se.Reason == ReasonMissingHeader || se.Reason == ReasonMalformedHeader):
			case se.Status == 401 && (se.Reason == ReasonInvalidSignature || se.Reason == ReasonTimestampOutOfTolerance):
			default:
				t.Fatalf("%s: unexpected error %d %s", fs.cfg.Scheme, se.Status, se.Reason)
			}
			for _, k := range testKeys {
				if strings.Contains(se.Message, string(k.Value)) || strings.Contains(se.Message, strings.TrimPrefix(string(k.Value), SecretPrefix)) {
					t.Fatalf("message %q contains a secret", se.Message)
				}
			}
			return
		}
		genuine := false
		for _, k := range testKeys {
			if fs.genuine(k.Value, sig, id, ts, body) {
				genuine = true
			}
		}
		if !genuine {
			t.Fatalf("%s accepted a delivery that no key signed: sig %q id %q ts %q body %q", fs.cfg.Scheme, sig, id, ts, body)
		}
		if !ValidDeliveryID(got) {
			t.Fatalf("%s: invalid delivery id %q", fs.cfg.Scheme, got)
		}
		if fs.idHeader != "" && got != id {
			t.Fatalf("%s: delivery id %q, header %q", fs.cfg.Scheme, got, id)
		}
	})
}
