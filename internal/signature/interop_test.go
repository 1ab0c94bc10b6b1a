package signature

import (
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	stripe "github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/webhook"
)

// The reference libraries read the wall clock, so these tests sign and verify at
// time.Now().

// TestStandardWebhooksReferenceLibrary cross-checks with the Go reference library of
// the Standard Webhooks specification, in both directions.
func TestStandardWebhooksReferenceLibrary(t *testing.T) {
	secretNew, _ := NewSecret()
	secretOld, _ := NewSecret()
	keys := []Key{{Name: "secret-1", Value: []byte(secretNew)}, {Name: "secret", Value: []byte(secretOld)}}
	whNew, err := standardwebhooks.NewWebhook(secretNew)
	if err != nil {
		t.Fatal(err)
	}
	whOld, err := standardwebhooks.NewWebhook(secretOld)
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(`{"type":"example.created","timestamp":"2023-09-28T19:20:22+00:00","data":{"str":"string","bool":true,"int":42}}`)
	const id = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"

	libHeaders := func(t *testing.T, wh *standardwebhooks.Webhook, ts time.Time, body []byte) http.Header {
		t.Helper()
		sig, err := wh.Sign(id, ts, body)
		if err != nil {
			t.Fatal(err)
		}
		h := http.Header{}
		h.Set(standardwebhooks.HeaderWebhookID, id)
		h.Set(standardwebhooks.HeaderWebhookTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(standardwebhooks.HeaderWebhookSignature, sig)
		return h
	}

	t.Run("library signs, Verify accepts", func(t *testing.T) {
		now := time.Now()
		for _, wh := range []*standardwebhooks.Webhook{whNew, whOld} {
			got, err := Verify(Config{}, keys, libHeaders(t, wh, now, body), body, now)
			if err != nil || got != id {
				t.Fatalf("Verify = %q, %v", got, err)
			}
		}
		// The sender signs with both keys during a rotation: a space-separated list.
		sigNew, _ := whNew.Sign(id, now, body)
		sigOld, _ := whOld.Sign(id, now, body)
		h := libHeaders(t, whNew, now, body)
		h.Set("webhook-signature", sigOld+" "+sigNew)
		if _, err := Verify(Config{}, keys[:1], h, body, now); err != nil {
			t.Fatal(err)
		}
		if _, err := Verify(Config{}, keys[1:], h, body, now); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("library signs, Verify rejects", func(t *testing.T) {
		now := time.Now()
		other, _ := NewSecret()
		whOther, _ := standardwebhooks.NewWebhook(other)
		h := libHeaders(t, whOther, now, body)
		_, err := Verify(Config{}, keys, h, body, now)
		wantError(t, err, 401, ReasonInvalidSignature, h, body)
		h = libHeaders(t, whNew, now, body)
		_, err = Verify(Config{}, keys, h, append([]byte{' '}, body...), now)
		wantError(t, err, 401, ReasonInvalidSignature, h, body)
		for _, skew := range []time.Duration{-6 * time.Minute, 6 * time.Minute} {
			h = libHeaders(t, whNew, now.Add(skew), body)
			_, err = Verify(Config{}, keys, h, body, now)
			wantError(t, err, 401, ReasonTimestampOutOfTolerance, h, body)
		}
	})

	t.Run("Sign signs, library accepts", func(t *testing.T) {
		for i, key := range keys {
			wh := []*standardwebhooks.Webhook{whNew, whOld}[i]
			for _, b := range [][]byte{body, nil, []byte("not json \x00\xff")} {
				h := mustSign(t, Config{}, key, id, b, time.Now())
				if err := wh.Verify(b, h); err != nil {
					t.Fatalf("library Verify: %v (headers %v)", err, h)
				}
				if err := wh.Verify(append(b, '!'), h); err == nil {
					t.Fatal("library accepted a tampered body")
				}
			}
		}
		// And a key signed by the wrong secret is refused by the library too.
		h := mustSign(t, Config{}, keys[1], id, body, time.Now())
		if err := whNew.Verify(body, h); err == nil {
			t.Fatal("library accepted the wrong key")
		}
	})
}

// TestStripeLibrary cross-checks with stripe-go's webhook package, in both directions.
func TestStripeLibrary(t *testing.T) {
	secret := "whsec_" + "test_8f3bK2aQpLmN0xR7vT4uY9zC" // Stripe's endpoint secrets are whsec_ + alphanumerics
	key := Key{Name: "secret", Value: []byte(secret)}
	cfg := Config{Scheme: Stripe}
	body := fmt.Appendf(nil, `{"id":"evt_1NqR8mKZ3x","object":"event","api_version":%q,"created":1700000000,"type":"customer.subscription.updated","data":{"object":{"id":"sub_1","object":"subscription"}}}`, stripe.APIVersion)

	t.Run("stripe-go signs, Verify accepts", func(t *testing.T) {
		now := time.Now()
		p := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: now})
		h := http.Header{}
		h.Set("Stripe-Signature", p.Header)
		got, err := Verify(cfg, []Key{keyNew, key}, h, body, now)
		if err != nil || got != "evt_1NqR8mKZ3x" {
			t.Fatalf("Verify = %q, %v", got, err)
		}
		// Rejections.
		_, err = Verify(cfg, []Key{keyNew}, h, body, now)
		wantError(t, err, 401, ReasonInvalidSignature, h, body)
		_, err = Verify(cfg, []Key{key}, h, append([]byte(" "), body...), now)
		wantError(t, err, 401, ReasonInvalidSignature, h, body)
		old := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: body, Secret: secret, Timestamp: now.Add(-301 * time.Second)})
		h.Set("Stripe-Signature", old.Header)
		_, err = Verify(cfg, []Key{key}, h, body, now)
		wantError(t, err, 401, ReasonTimestampOutOfTolerance, h, body)
	})

	t.Run("Sign signs, stripe-go accepts", func(t *testing.T) {
		h := mustSign(t, cfg, key, "", body, time.Now())
		ev, err := webhook.ConstructEventWithOptions(body, h.Get("Stripe-Signature"), secret, webhook.ConstructEventOptions{})
		if err != nil {
			t.Fatalf("ConstructEventWithOptions: %v", err)
		}
		id, err := Verify(cfg, []Key{key}, h, body, time.Now())
		if err != nil || id != ev.ID {
			t.Fatalf("delivery id %q (%v), stripe event id %q", id, err, ev.ID)
		}
		// Not only events: any payload.
		raw := []byte("raw \x00 payload")
		h = mustSign(t, cfg, key, "", raw, time.Now())
		if err := webhook.ValidatePayload(raw, h.Get("Stripe-Signature"), secret); err != nil {
			t.Fatal(err)
		}
		if err := webhook.ValidatePayload(raw, h.Get("Stripe-Signature"), secret+"x"); err == nil {
			t.Fatal("stripe-go accepted the wrong secret")
		}
	})
}
