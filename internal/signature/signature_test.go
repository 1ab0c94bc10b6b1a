package signature

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

var (
	testNow  = time.Unix(1_700_000_000, 0)
	testBody = []byte(`{"id":"evt_1NqR8mKZ","object":"event","type":"push","data":{"ref":"refs/heads/main"}}`)

	// keyNew and keyOld are the two keys of a rotation, newest first as Keys returns them.
	keyNew   = Key{Name: "secret-1", Value: []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
	keyOld   = Key{Name: "secret", Value: []byte("whsec_c2VjcmV0LW9sZC1zZWNyZXQtb2xkLXNlY3JldA==")}
	keyOther = Key{Name: "secret", Value: []byte("whsec_b3RoZXItb3RoZXItb3RoZXItb3RoZXI=")}
	testKeys = []Key{keyNew, keyOld}
)

type schemeCase struct {
	name   string
	cfg    Config
	wantID func(deliveryID string, body []byte) string // the id Verify returns for a Sign(…, deliveryID, body, …)
}

func sentID(id string, _ []byte) string     { return id }
func bodyID(_ string, body []byte) string   { return BodyDeliveryID(body) }
func stripeID(_ string, body []byte) string { return "evt_1NqR8mKZ" }

var schemeCases = []schemeCase{
	{"StandardWebhooks", Config{Scheme: StandardWebhooks}, sentID},
	{"GitHub", Config{Scheme: GitHub}, sentID},
	{"Stripe", Config{Scheme: Stripe}, stripeID},
	{"HMAC-sha256-hex-prefix-id", Config{Scheme: HMAC, HMAC: &HMACConfig{Header: "X-Signature", Prefix: "sha256="}, DeliveryIDHeader: "X-Delivery-Id"}, sentID},
	{"HMAC-sha512-base64", Config{Scheme: HMAC, HMAC: &HMACConfig{Header: "X-Sig", Algorithm: "sha512", Encoding: "base64"}}, bodyID},
	{"HMAC-sha512-hex-explicit", Config{Scheme: HMAC, HMAC: &HMACConfig{Header: "Signature", Algorithm: "sha512", Encoding: "hex", Prefix: "v1:"}}, bodyID},
	{"Token", Config{Scheme: Token}, bodyID},
	{"Token-id", Config{Scheme: Token, DeliveryIDHeader: "X-Request-Id"}, sentID},
}

// timestamped reports whether the scheme signs a timestamp.
func timestamped(c Config) bool { return c.Scheme == StandardWebhooks || c.Scheme == Stripe }

func mustSign(t testing.TB, cfg Config, key Key, id string, body []byte, now time.Time) http.Header {
	t.Helper()
	h, err := Sign(cfg, key, id, body, now)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return h
}

// wantError checks that err is a *Error with status and reason whose message leaks
// none of the secrets (key values, header values, body).
func wantError(t *testing.T, err error, status int, reason string, h http.Header, body []byte) {
	t.Helper()
	var se *Error
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want *Error %d %s", err, err, status, reason)
	}
	if se.Status != status || se.Reason != reason {
		t.Fatalf("err = %d %s %q, want %d %s", se.Status, se.Reason, se.Message, status, reason)
	}
	if se.Message == "" || se.Error() != se.Message {
		t.Fatalf("bad message %q", se.Message)
	}
	assertNoLeak(t, se.Message, h, body)
}

func assertNoLeak(t *testing.T, msg string, h http.Header, body []byte) {
	t.Helper()
	for _, k := range append(testKeys, keyOther) {
		if strings.Contains(msg, string(k.Value)) || strings.Contains(msg, strings.TrimPrefix(string(k.Value), SecretPrefix)) {
			t.Fatalf("message %q contains a secret", msg)
		}
	}
	for name, vals := range h {
		for _, v := range vals {
			if len(v) >= 8 && strings.Contains(msg, v) {
				t.Fatalf("message %q contains the value of header %s", msg, name)
			}
		}
	}
	if len(body) >= 8 && strings.Contains(msg, string(body)) {
		t.Fatalf("message %q contains the body", msg)
	}
}

func TestRoundTripEveryScheme(t *testing.T) {
	for _, sc := range schemeCases {
		t.Run(sc.name, func(t *testing.T) {
			for _, body := range [][]byte{testBody, nil, bytes.Repeat([]byte{0, 0xff, '\n'}, 1000)} {
				for _, key := range testKeys {
					h := mustSign(t, sc.cfg, key, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", body, testNow)
					got, err := Verify(sc.cfg, testKeys, h, body, testNow)
					if err != nil {
						t.Fatalf("key %s: Verify: %v", key.Name, err)
					}
					want := sc.wantID("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", body)
					if sc.cfg.Scheme == Stripe && !bytes.Equal(body, testBody) {
						want = BodyDeliveryID(body)
					}
					if got != want {
						t.Fatalf("delivery id = %q, want %q", got, want)
					}
					// Each key alone verifies what it signed.
					if _, err := Verify(sc.cfg, []Key{key}, h, body, testNow); err != nil {
						t.Fatalf("key %s alone: %v", key.Name, err)
					}
				}
			}
		})
	}
}

func TestWrongSecret(t *testing.T) {
	for _, sc := range schemeCases {
		t.Run(sc.name, func(t *testing.T) {
			h := mustSign(t, sc.cfg, keyOther, "d-1", testBody, testNow)
			_, err := Verify(sc.cfg, testKeys, h, testBody, testNow)
			wantError(t, err, 401, ReasonInvalidSignature, h, testBody)
			// Signed with the old key, verified against the new one only.
			h = mustSign(t, sc.cfg, keyOld, "d-1", testBody, testNow)
			_, err = Verify(sc.cfg, []Key{keyNew}, h, testBody, testNow)
			wantError(t, err, 401, ReasonInvalidSignature, h, testBody)
		})
	}
}

func TestTamperedBody(t *testing.T) {
	for _, sc := range schemeCases {
		t.Run(sc.name, func(t *testing.T) {
			h := mustSign(t, sc.cfg, keyNew, "d-1", testBody, testNow)
			for _, tampered := range [][]byte{
				bytes.Replace(testBody, []byte("main"), []byte("evil"), 1),
				testBody[:len(testBody)-1],
				append(append([]byte{}, testBody...), ' '),
				nil,
			} {
				id, err := Verify(sc.cfg, testKeys, h, tampered, testNow)
				if sc.cfg.Scheme == Token {
					// A bearer token does not sign the body: any body is accepted, and
					// without a delivery id header the id follows the body.
					if err != nil {
						t.Fatal(err)
					}
					if sc.cfg.DeliveryIDHeader == "" && id != BodyDeliveryID(tampered) {
						t.Fatalf("id = %q, want the tampered body's hash", id)
					}
					continue
				}
				wantError(t, err, 401, ReasonInvalidSignature, h, tampered)
			}
		})
	}
}

func TestTolerance(t *testing.T) {
	for _, sc := range schemeCases {
		if !timestamped(sc.cfg) {
			continue
		}
		for _, tol := range []time.Duration{0, 10 * time.Second, 24 * time.Hour} {
			cfg := sc.cfg
			cfg.Tolerance = tol
			eff := tol
			if eff == 0 {
				eff = DefaultTolerance
			}
			t.Run(fmt.Sprintf("%s/%v", sc.name, tol), func(t *testing.T) {
				for _, tc := range []struct {
					signedAt time.Time
					ok       bool
					word     string
				}{
					{testNow, true, ""},
					{testNow.Add(-eff), true, ""},                    // just inside: stale
					{testNow.Add(eff), true, ""},                     // just inside: future
					{testNow.Add(-eff - time.Second), false, "past"}, // just outside: stale
					{testNow.Add(eff + time.Second), false, "future"},
					{time.Unix(0, 0), false, "past"},
					{time.Unix(999_999_999_999_999, 0), false, "future"},
				} {
					h := mustSign(t, cfg, keyNew, "d-1", testBody, tc.signedAt)
					_, err := Verify(cfg, testKeys, h, testBody, testNow)
					if tc.ok {
						if err != nil {
							t.Fatalf("signed at now%+v: %v", tc.signedAt.Sub(testNow), err)
						}
						continue
					}
					wantError(t, err, 401, ReasonTimestampOutOfTolerance, h, testBody)
					if !strings.Contains(err.Error(), tc.word) {
						t.Fatalf("message %q does not say %q", err, tc.word)
					}
					// A forged signature with a stale timestamp is an invalid signature:
					// only key holders learn about their clock.
					forged := mustSign(t, cfg, keyOther, "d-1", testBody, tc.signedAt)
					_, err = Verify(cfg, testKeys, forged, testBody, testNow)
					wantError(t, err, 401, ReasonInvalidSignature, forged, testBody)
				}
			})
		}
	}
	// Sub-second clocks: a timestamp one whole second off is outside a tolerance that
	// the fractional part of now already uses up.
	cfg := Config{Scheme: StandardWebhooks, Tolerance: 10 * time.Second}
	h := mustSign(t, cfg, keyNew, "d-1", testBody, testNow.Add(-10*time.Second))
	if _, err := Verify(cfg, testKeys, h, testBody, testNow.Add(999*time.Millisecond)); err == nil {
		t.Fatal("accepted a timestamp 10.999s old with a 10s tolerance")
	}
}

func TestMissingAndRepeatedHeaders(t *testing.T) {
	for _, sc := range schemeCases {
		t.Run(sc.name, func(t *testing.T) {
			signed := mustSign(t, sc.cfg, keyNew, "d-1", testBody, testNow)
			// Every header Sign sets is required.
			for name := range signed {
				for _, mutate := range []func(h http.Header){
					func(h http.Header) { h.Del(name) },
					func(h http.Header) { h.Set(name, "") },
				} {
					h := signed.Clone()
					mutate(h)
					_, err := Verify(sc.cfg, testKeys, h, testBody, testNow)
					wantError(t, err, 400, ReasonMissingHeader, signed, testBody)
					if !strings.Contains(strings.ToLower(err.Error()), strings.ToLower(name)) {
						t.Fatalf("message %q does not name %s", err, name)
					}
				}
				h := signed.Clone()
				h.Add(name, h.Get(name))
				_, err := Verify(sc.cfg, testKeys, h, testBody, testNow)
				wantError(t, err, 400, ReasonMalformedHeader, signed, testBody)
			}
			_, err := Verify(sc.cfg, testKeys, nil, testBody, testNow)
			wantError(t, err, 400, ReasonMissingHeader, nil, testBody)
		})
	}
}

// TestMalformedHeaders replaces one header of a genuinely signed delivery.
func TestMalformedHeaders(t *testing.T) {
	long := strings.Repeat("a", MaxSignatureHeaderLen+1)
	hmacCfg := schemeCases[3].cfg
	for _, tc := range []struct {
		name   string
		cfg    Config
		header string
		value  string // may use %s for the genuine value
		status int
		reason string
	}{
		{"sw id space", Config{}, "webhook-id", "msg 1", 400, ReasonMalformedHeader},
		{"sw id control", Config{}, "webhook-id", "msg\x001", 400, ReasonMalformedHeader},
		{"sw id non-ascii", Config{}, "webhook-id", "msgé", 400, ReasonMalformedHeader},
		{"sw id too long", Config{}, "webhook-id", strings.Repeat("x", MaxDeliveryIDLen+1), 400, ReasonMalformedHeader},
		{"sw ts letters", Config{}, "webhook-timestamp", "soon", 400, ReasonMalformedHeader},
		{"sw ts negative", Config{}, "webhook-timestamp", "-1700000000", 400, ReasonMalformedHeader},
		{"sw ts plus", Config{}, "webhook-timestamp", "+1700000000", 400, ReasonMalformedHeader},
		{"sw ts leading zero", Config{}, "webhook-timestamp", "01700000000", 400, ReasonMalformedHeader},
		{"sw ts fraction", Config{}, "webhook-timestamp", "1700000000.5", 400, ReasonMalformedHeader},
		{"sw ts huge", Config{}, "webhook-timestamp", "99999999999999999999999", 400, ReasonMalformedHeader},
		{"sw ts millis", Config{}, "webhook-timestamp", "1700000000000", 401, ReasonInvalidSignature},
		{"sw sig no comma", Config{}, "webhook-signature", "garbage", 400, ReasonMalformedHeader},
		{"sw sig empty parts", Config{}, "webhook-signature", ", v1, ,x", 400, ReasonMalformedHeader},
		{"sw sig too long", Config{}, "webhook-signature", "%s " + long, 400, ReasonMalformedHeader},
		{"sw sig other versions", Config{}, "webhook-signature", "v1a,abc v2,def", 401, ReasonInvalidSignature},
		{"sw sig v1 bad base64", Config{}, "webhook-signature", "v1,!!!!", 401, ReasonInvalidSignature},
		{"gh sha1", Config{Scheme: GitHub}, "X-Hub-Signature-256", "sha1=0123456789abcdef0123456789abcdef01234567", 400, ReasonMalformedHeader},
		{"gh no prefix", Config{Scheme: GitHub}, "X-Hub-Signature-256", strings.Repeat("ab", 32), 400, ReasonMalformedHeader},
		{"gh not hex", Config{Scheme: GitHub}, "X-Hub-Signature-256", "sha256=" + strings.Repeat("zz", 32), 400, ReasonMalformedHeader},
		{"gh short", Config{Scheme: GitHub}, "X-Hub-Signature-256", "sha256=" + strings.Repeat("ab", 31), 400, ReasonMalformedHeader},
		{"gh odd", Config{Scheme: GitHub}, "X-Hub-Signature-256", "sha256=abc", 400, ReasonMalformedHeader},
		{"gh right length wrong mac", Config{Scheme: GitHub}, "X-Hub-Signature-256", "sha256=" + strings.Repeat("ab", 32), 401, ReasonInvalidSignature},
		{"gh delivery space", Config{Scheme: GitHub}, "X-GitHub-Delivery", "a b", 400, ReasonMalformedHeader},
		{"stripe garbage", Config{Scheme: Stripe}, "Stripe-Signature", "garbage", 400, ReasonMalformedHeader},
		{"stripe no t", Config{Scheme: Stripe}, "Stripe-Signature", "v1=" + strings.Repeat("ab", 32), 400, ReasonMalformedHeader},
		{"stripe bad t", Config{Scheme: Stripe}, "Stripe-Signature", "t=now,v1=" + strings.Repeat("ab", 32), 400, ReasonMalformedHeader},
		{"stripe two t", Config{Scheme: Stripe}, "Stripe-Signature", "%s,t=1700000000", 400, ReasonMalformedHeader},
		{"stripe trailing comma", Config{Scheme: Stripe}, "Stripe-Signature", "%s,", 400, ReasonMalformedHeader},
		{"stripe too long", Config{Scheme: Stripe}, "Stripe-Signature", "%s,x=" + long, 400, ReasonMalformedHeader},
		{"stripe no v1", Config{Scheme: Stripe}, "Stripe-Signature", "t=1700000000,v0=" + strings.Repeat("ab", 32), 401, ReasonInvalidSignature},
		{"stripe v1 not hex", Config{Scheme: Stripe}, "Stripe-Signature", "t=1700000000,v1=xyz", 401, ReasonInvalidSignature},
		{"hmac no prefix", hmacCfg, "X-Signature", strings.Repeat("ab", 32), 400, ReasonMalformedHeader},
		{"hmac bad hex", hmacCfg, "X-Signature", "sha256=" + strings.Repeat("g", 64), 400, ReasonMalformedHeader},
		{"hmac short", hmacCfg, "X-Signature", "sha256=abcd", 400, ReasonMalformedHeader},
		{"hmac delivery id space", hmacCfg, "X-Delivery-Id", "a b", 400, ReasonMalformedHeader},
		{"hmac b64 not b64", schemeCases[4].cfg, "X-Sig", "%s!", 400, ReasonMalformedHeader},
		{"hmac b64 line break", schemeCases[4].cfg, "X-Sig", "%s\r\n", 400, ReasonMalformedHeader}, // base64 would skip it
		{"sw sig line break", Config{}, "webhook-signature", "%s\n", 400, ReasonMalformedHeader},
		{"token control char", Config{Scheme: Token}, "Authorization", "%s\x00", 400, ReasonMalformedHeader},
		{"hmac b64 hex", schemeCases[4].cfg, "X-Sig", strings.Repeat("ab", 64), 400, ReasonMalformedHeader},
		{"token basic", Config{Scheme: Token}, "Authorization", "Basic dXNlcjpwYXNz", 400, ReasonMalformedHeader},
		{"token no token", Config{Scheme: Token}, "Authorization", "Bearer", 400, ReasonMalformedHeader},
		{"token blank token", Config{Scheme: Token}, "Authorization", "Bearer   ", 400, ReasonMalformedHeader},
		{"token raw secret", Config{Scheme: Token}, "Authorization", string(keyNew.Value), 400, ReasonMalformedHeader},
		{"token wrong", Config{Scheme: Token}, "Authorization", "Bearer whsec_nope", 401, ReasonInvalidSignature},
		{"token prefix of secret", Config{Scheme: Token}, "Authorization", "Bearer " + string(keyNew.Value[:10]), 401, ReasonInvalidSignature},
	} {
		t.Run(tc.name, func(t *testing.T) {
			signed := mustSign(t, tc.cfg, keyNew, "d-1", testBody, testNow)
			h := signed.Clone()
			v := tc.value
			if strings.Contains(v, "%s") {
				v = strings.ReplaceAll(v, "%s", signed.Get(tc.header))
			}
			h.Set(tc.header, v)
			_, err := Verify(tc.cfg, testKeys, h, testBody, testNow)
			wantError(t, err, tc.status, tc.reason, signed, testBody)
			assertNoLeak(t, err.Error(), h, testBody)
		})
	}
}

func TestLenientButCorrectParsing(t *testing.T) {
	// Accepted variations of genuinely signed deliveries.
	for _, tc := range []struct {
		name   string
		cfg    Config
		header string
		value  func(genuine string) string
	}{
		{"sw extra spaces and unknown versions", Config{}, "webhook-signature", func(g string) string { return "v1a,xyz  v1,AAAA " + g + " v2,abc" }},
		{"sw rotation entries", Config{}, "webhook-signature", func(g string) string { return "v1,bm90LWl0 " + g }},
		{"gh uppercase hex", Config{Scheme: GitHub}, "X-Hub-Signature-256", func(g string) string { return "sha256=" + strings.ToUpper(strings.TrimPrefix(g, "sha256=")) }},
		{"stripe extra entries", Config{Scheme: Stripe}, "Stripe-Signature", func(g string) string {
			return g + ",v1=" + strings.Repeat("00", 32) + ",v0=abc,v1=nothex,scheme=x"
		}},
		{"stripe bad v1 first", Config{Scheme: Stripe}, "Stripe-Signature", func(g string) string {
			ts, sig, _ := strings.Cut(g, ",")
			return "v1=" + strings.Repeat("00", 32) + "," + sig + "," + ts
		}},
		{"hmac b64 unpadded", schemeCases[4].cfg, "X-Sig", func(g string) string { return strings.TrimRight(g, "=") }},
		{"token lowercase bearer", Config{Scheme: Token}, "Authorization", func(g string) string { return "bearer " + strings.TrimPrefix(g, "Bearer ") }},
		{"token extra spaces", Config{Scheme: Token}, "Authorization", func(g string) string { return "Bearer   " + strings.TrimPrefix(g, "Bearer ") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := mustSign(t, tc.cfg, keyOld, "d-1", testBody, testNow)
			h.Set(tc.header, tc.value(h.Get(tc.header)))
			if _, err := Verify(tc.cfg, testKeys, h, testBody, testNow); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestMaxSignatures(t *testing.T) {
	genuine := mustSign(t, Config{}, keyNew, "d-1", testBody, testNow).Get(HeaderWebhookSignature)
	decoys := strings.Repeat("v1,bm90LWl0LW5vdC1pdA== ", MaxSignatures-1)
	for _, tc := range []struct {
		sig string
		ok  bool
	}{
		{decoys + genuine, true},
		{decoys + "v1,bm90 " + genuine, false}, // the genuine one is not considered
		{strings.Repeat("v1a,x ", 100) + genuine, true},
	} {
		h := mustSign(t, Config{}, keyNew, "d-1", testBody, testNow)
		h.Set(HeaderWebhookSignature, tc.sig)
		_, err := Verify(Config{}, testKeys, h, testBody, testNow)
		if (err == nil) != tc.ok {
			t.Fatalf("%d entries: err = %v, want ok=%v", strings.Count(tc.sig, ",")+1, err, tc.ok)
		}
	}
	genuine = mustSign(t, Config{Scheme: Stripe}, keyNew, "d-1", testBody, testNow).Get(HeaderStripeSignature)
	h := http.Header{}
	h.Set(HeaderStripeSignature, strings.Repeat("v1="+strings.Repeat("00", 32)+",", MaxSignatures)+genuine)
	if _, err := Verify(Config{Scheme: Stripe}, testKeys, h, testBody, testNow); err == nil {
		t.Fatal("a 17th v1 signature was considered")
	}
}

func TestGitHubDocsVector(t *testing.T) {
	// https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
	key := Key{Name: "secret", Value: []byte("It's a Secret to Everybody")}
	body := []byte("Hello, World!")
	const want = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
	h := http.Header{}
	h.Set("X-Hub-Signature-256", want)
	h.Set("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958")
	id, err := Verify(Config{Scheme: GitHub}, []Key{key}, h, body, testNow)
	if err != nil || id != "72d3162e-cc78-11e3-81ab-4c9367dc0958" {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	signed := mustSign(t, Config{Scheme: GitHub}, key, "72d3162e-cc78-11e3-81ab-4c9367dc0958", body, testNow)
	if got := signed.Get("X-Hub-Signature-256"); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	// The same vector through the generic HMAC scheme configured like GitHub.
	cfg := Config{Scheme: HMAC, HMAC: &HMACConfig{Header: "X-Hub-Signature-256", Prefix: "sha256="}, DeliveryIDHeader: "X-GitHub-Delivery"}
	if id, err := Verify(cfg, []Key{key}, h, body, testNow); err != nil || id != "72d3162e-cc78-11e3-81ab-4c9367dc0958" {
		t.Fatalf("HMAC scheme: Verify = %q, %v", id, err)
	}
}

func TestStandardWebhooksVector(t *testing.T) {
	// The test vector of the Standard Webhooks specification and reference libraries.
	key := Key{Name: "secret", Value: []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
	h := http.Header{}
	h.Set("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek")
	h.Set("webhook-timestamp", "1614265330")
	h.Set("webhook-signature", "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=")
	body := []byte(`{"test": 2432232314}`)
	id, err := Verify(Config{}, []Key{key}, h, body, time.Unix(1614265330, 0))
	if err != nil || id != "msg_p5jXN8AQM9LWM0D4loKWxJek" {
		t.Fatalf("Verify = %q, %v", id, err)
	}
	// The secret without its prefix is the same key.
	key.Value = []byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if _, err := Verify(Config{}, []Key{key}, h, body, time.Unix(1614265330, 0)); err != nil {
		t.Fatal(err)
	}
	signed := mustSign(t, Config{}, key, "msg_p5jXN8AQM9LWM0D4loKWxJek", body, time.Unix(1614265330, 0))
	if signed.Get("webhook-signature") != h.Get("webhook-signature") {
		t.Fatalf("Sign = %v", signed)
	}
}

func TestStripeDeliveryID(t *testing.T) {
	for _, tc := range []struct {
		body string
		want string // "" means the body hash
	}{
		{`{"id":"evt_1","object":"event"}`, "evt_1"},
		{` { "object" : "event", "data": {"id": "pi_1", "list": [1, {"id": "x"}]}, "id" : "evt_2" } `, "evt_2"},
		{`{"id":"evt_first","id":"evt_second"}`, "evt_first"},
		{`{"object":"event"}`, ""},
		{`{"ID":"evt_1"}`, ""},
		{`{"Id":"evt_1"}`, ""},
		{`{"id":42}`, ""},
		{`{"id":null}`, ""},
		{`{"id":""}`, ""},
		{`{"id":"evt 1"}`, ""},
		{`{"id":"evt\u00e9"}`, ""},
		{`{"id":"` + strings.Repeat("e", MaxDeliveryIDLen+1) + `"}`, ""},
		{`{"data":{"id":"evt_1"}}`, ""},
		{`["id","evt_1"]`, ""},
		{`"evt_1"`, ""},
		{`not json`, ""},
		{``, ""},
		{`{"id":"evt_1"`, "evt_1"}, // truncated after the id: the id still names the event
		{`{"data":[}, "id":"evt_1"}`, ""},
	} {
		body := []byte(tc.body)
		h := mustSign(t, Config{Scheme: Stripe}, keyNew, "", body, testNow)
		got, err := Verify(Config{Scheme: Stripe}, testKeys, h, body, testNow)
		if err != nil {
			t.Fatal(err)
		}
		want := tc.want
		if want == "" {
			want = BodyDeliveryID(body)
		}
		if got != want {
			t.Errorf("body %.40q: id = %q, want %q", tc.body, got, want)
		}
	}
}

func TestBodyDeliveryID(t *testing.T) {
	const emptySHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
	if got := BodyDeliveryID(nil); got != emptySHA256 || !ValidDeliveryID(got) {
		t.Fatalf("BodyDeliveryID(nil) = %q", got)
	}
}

func TestValidDeliveryID(t *testing.T) {
	for id, want := range map[string]bool{
		"":                                      false,
		"a":                                     true,
		"72d3162e-cc78-11e3-81ab-4c9367dc0958":  true,
		"msg_2KWPBgLlAfxdpx2AI54pPJ85f4W":       true,
		"!~":                                    true,
		"a b":                                   false,
		"a\tb":                                  false,
		"a\x7f":                                 false,
		"é":                                     false,
		strings.Repeat("x", MaxDeliveryIDLen):   true,
		strings.Repeat("x", MaxDeliveryIDLen+1): false,
	} {
		if got := ValidDeliveryID(id); got != want {
			t.Errorf("ValidDeliveryID(%.20q) = %v", id, got)
		}
	}
}

func TestKeysNamingAndRotation(t *testing.T) {
	keys, err := Keys(map[string][]byte{
		"secret":    keyOld.Value,
		"secret-2":  []byte("whsec_dHdv"),
		"secret-10": keyNew.Value,
		"secret-0":  []byte("ignored"),
		"secret-01": []byte("ignored"),
		"secret-x":  []byte("ignored"),
		"secret-":   []byte("ignored"),
		"secret--1": []byte("ignored"),
		"Secret":    []byte("ignored"),
		"token":     []byte("ignored"),
		"ca.crt":    []byte("ignored"),
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, k := range keys {
		names = append(names, k.Name)
	}
	if got := strings.Join(names, ","); got != "secret-10,secret-2,secret" {
		t.Fatalf("Keys order = %s", got)
	}
	if string(keys[0].Value) != string(keyNew.Value) || string(keys[2].Value) != string(keyOld.Value) {
		t.Fatal("values do not follow their names")
	}
	// During a rotation, deliveries signed with any key verify, for every scheme.
	for _, sc := range schemeCases {
		for _, k := range keys {
			h := mustSign(t, sc.cfg, k, "d-1", testBody, testNow)
			if _, err := Verify(sc.cfg, keys, h, testBody, testNow); err != nil {
				t.Fatalf("%s signed with %s: %v", sc.name, k.Name, err)
			}
		}
		h := mustSign(t, sc.cfg, Key{Name: "x", Value: []byte("whsec_aWdub3JlZA==")}, "d-1", testBody, testNow)
		if _, err := Verify(sc.cfg, keys, h, testBody, testNow); err == nil {
			t.Fatalf("%s: a key outside the naming contract verified", sc.name)
		}
	}

	if keys, err := Keys(map[string][]byte{"secret-3": []byte("x")}); err != nil || len(keys) != 1 || keys[0].Name != "secret-3" {
		t.Fatalf("only secret-3: %v %v", keys, err)
	}
	for name, data := range map[string]map[string][]byte{
		"nil":  nil,
		"none": {"token": []byte("x"), "secret-0": []byte("x"), "secret-1000000000": []byte("x")},
	} {
		if _, err := Keys(data); !errors.Is(err, ErrNoKeys) {
			t.Errorf("%s: err = %v, want ErrNoKeys", name, err)
		}
	}
	// An empty signing key is returned, never used, and named by CheckKeys: the other keys
	// keep verifying (the WebhookEndpoint controller reports the same).
	keys, err = Keys(map[string][]byte{"secret": keyOld.Value, "secret-1": {}})
	if err != nil || len(keys) != 2 {
		t.Fatalf("Keys with an empty extra key = %v, %v", keys, err)
	}
	if u := Usable(Config{}, keys); len(u) != 1 || u[0].Name != "secret" {
		t.Fatalf("Usable = %v", u)
	}
	var ke *KeyError
	if err := CheckKeys(Config{}, keys); !errors.As(err, &ke) || ke.Key != "secret-1" || ke.Problem != "is empty" || !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("CheckKeys = %v", err)
	}
	h := mustSign(t, Config{}, keyOld, "d-1", testBody, testNow)
	if _, err := Verify(Config{}, keys, h, testBody, testNow); err != nil {
		t.Fatalf("a good key beside an empty one: %v", err)
	}
	if _, err := Verify(Config{}, keys[:1], h, testBody, testNow); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("only an empty key: %v, want ErrInvalidConfig", err)
	}
}

func TestNewSecret(t *testing.T) {
	s1, err := NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	s2, _ := NewSecret()
	if s1 == s2 || !strings.HasPrefix(s1, "whsec_") {
		t.Fatalf("NewSecret = %q, %q", s1, s2)
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s1, "whsec_"))
	if err != nil || len(raw) != 32 {
		t.Fatalf("secret decodes to %d bytes, %v", len(raw), err)
	}
	key := Key{Name: "secret", Value: []byte(s1)}
	for _, sc := range schemeCases {
		if err := CheckKeys(sc.cfg, []Key{key}); err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		h := mustSign(t, sc.cfg, key, "d-1", testBody, testNow)
		if _, err := Verify(sc.cfg, []Key{key}, h, testBody, testNow); err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
	}
}

func TestKeyDoesNotPrintItsValue(t *testing.T) {
	k := Key{Name: "secret-1", Value: []byte("whsec_topsecret")}
	b, err := json.Marshal(map[string]any{"key": k, "keys": []Key{k}})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{
		fmt.Sprint(k), fmt.Sprintf("%v %+v %#v %s %q", k, k, k, k, k), fmt.Sprintf("%v %+v %#v", []Key{k}, []Key{k}, []Key{k}),
		fmt.Sprintf("%+v", struct{ K Key }{k}), string(b),
	} {
		if strings.Contains(s, "topsecret") || strings.Contains(s, base64.StdEncoding.EncodeToString(k.Value)) {
			t.Fatalf("%s leaks the value", s)
		}
		if !strings.Contains(s, "secret-1") {
			t.Fatalf("%s lacks the name", s)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	good := []Key{keyNew}
	for name, cfg := range map[string]Config{
		"unknown scheme":             {Scheme: "Svix"},
		"lowercase scheme":           {Scheme: "github"},
		"negative tolerance":         {Tolerance: -time.Second},
		"hmac without config":        {Scheme: HMAC},
		"hmac config for github":     {Scheme: GitHub, HMAC: &HMACConfig{Header: "X-Sig"}},
		"hmac no header":             {Scheme: HMAC, HMAC: &HMACConfig{}},
		"hmac bad header":            {Scheme: HMAC, HMAC: &HMACConfig{Header: "X Sig"}},
		"hmac bad algorithm":         {Scheme: HMAC, HMAC: &HMACConfig{Header: "X-Sig", Algorithm: "sha1"}},
		"hmac bad encoding":          {Scheme: HMAC, HMAC: &HMACConfig{Header: "X-Sig", Encoding: "base32"}},
		"delivery header on github":  {Scheme: GitHub, DeliveryIDHeader: "X-Id"},
		"delivery header on default": {DeliveryIDHeader: "X-Id"},
		"bad delivery header":        {Scheme: Token, DeliveryIDHeader: "X:Id"},
	} {
		if err := cfg.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate = %v", name, err)
		}
		_, err := Verify(cfg, good, http.Header{}, testBody, testNow)
		var se *Error
		if !errors.Is(err, ErrInvalidConfig) || errors.As(err, &se) {
			t.Errorf("%s: Verify = %v", name, err)
		}
		if _, err := Sign(cfg, keyNew, "d-1", testBody, testNow); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Sign = %v", name, err)
		}
	}
	for _, sc := range schemeCases {
		if err := sc.cfg.Validate(); err != nil {
			t.Errorf("%s: %v", sc.name, err)
		}
		h := mustSign(t, sc.cfg, keyNew, "d-1", testBody, testNow)
		for name, keys := range map[string][]Key{"no keys": nil, "empty key": {{Name: "secret"}}} {
			_, err := Verify(sc.cfg, keys, h, testBody, testNow)
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("%s, %s: Verify = %v", sc.name, name, err)
			}
		}
	}
}

func TestUnusableKeys(t *testing.T) {
	notBase64 := Key{Name: "secret-2", Value: []byte("whsec_not base64!")}
	withNewline := Key{Name: "secret-3", Value: []byte("tok\n")}
	// StandardWebhooks: a key that is not base64 is skipped, reported by CheckKeys, and
	// fails verification only when no key is left.
	if err := CheckKeys(Config{}, []Key{notBase64, keyNew}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "secret-2") || strings.Contains(err.Error(), "base64!") {
		t.Fatalf("CheckKeys = %v", err)
	}
	h := mustSign(t, Config{}, keyNew, "d-1", testBody, testNow)
	if _, err := Verify(Config{}, []Key{notBase64, keyNew}, h, testBody, testNow); err != nil {
		t.Fatal(err)
	}
	_, err := Verify(Config{}, []Key{notBase64}, h, testBody, testNow)
	if !errors.Is(err, ErrInvalidConfig) || strings.Contains(err.Error(), "base64!") {
		t.Fatalf("Verify = %v", err)
	}
	if _, err := Sign(Config{}, notBase64, "d-1", testBody, testNow); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Sign = %v", err)
	}
	// The same value is a fine GitHub, Stripe or HMAC key (its bytes as stored).
	for _, sc := range schemeCases[1:6] {
		if err := CheckKeys(sc.cfg, []Key{notBase64}); err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		h := mustSign(t, sc.cfg, notBase64, "d-1", testBody, testNow)
		if _, err := Verify(sc.cfg, []Key{notBase64}, h, testBody, testNow); err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
	}
	// Token: a value that cannot be sent in a header.
	if err := CheckKeys(Config{Scheme: Token}, []Key{withNewline}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("CheckKeys = %v", err)
	}
	if _, err := Sign(Config{Scheme: Token}, withNewline, "", testBody, testNow); err == nil {
		t.Fatal("Sign accepted a token with a newline")
	}
}

func TestSignRejectsBadDeliveryIDs(t *testing.T) {
	for _, sc := range schemeCases {
		needsID := sc.cfg.Scheme == StandardWebhooks || sc.cfg.Scheme == GitHub || sc.cfg.DeliveryIDHeader != ""
		for _, id := range []string{"", "a b", strings.Repeat("x", MaxDeliveryIDLen+1)} {
			_, err := Sign(sc.cfg, keyNew, id, testBody, testNow)
			if needsID != (err != nil) {
				t.Errorf("%s: Sign(id %.10q) = %v", sc.name, id, err)
			}
		}
	}
}

func TestDefaultSchemeIsStandardWebhooks(t *testing.T) {
	h := mustSign(t, Config{}, keyNew, "d-1", testBody, testNow)
	for _, name := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
		if h.Get(name) == "" {
			t.Fatalf("Config{} did not sign with Standard Webhooks: %v", h)
		}
	}
	if h.Get("webhook-timestamp") != strconv.FormatInt(testNow.Unix(), 10) {
		t.Fatal("timestamp")
	}
	if _, err := Verify(Config{Scheme: StandardWebhooks, Tolerance: DefaultTolerance}, testKeys, h, testBody, testNow); err != nil {
		t.Fatal(err)
	}
}
