package signature

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"testing"
)

// A body written to a Verifier in pieces of any size verifies exactly as the whole body
// handed to Verify: same verdict, same delivery id, same digest.
func TestVerifierStreamsInAnyPieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	body := make([]byte, 300_000)
	for i := range body {
		body[i] = byte(rng.IntN(256))
	}
	for _, sc := range schemeCases {
		t.Run(sc.name, func(t *testing.T) {
			h := mustSign(t, sc.cfg, keyOld, "msg_1", body, testNow)
			want, err := Verify(sc.cfg, testKeys, h, body, testNow)
			if err != nil {
				t.Fatal(err)
			}
			for round := 0; round < 5; round++ {
				v, err := NewVerifier(sc.cfg, testKeys, h, testNow)
				if err != nil {
					t.Fatal(err)
				}
				for rest := body; len(rest) > 0; {
					n := min(len(rest), 1+rng.IntN(70_000))
					_, _ = v.Write(rest[:n])
					rest = rest[n:]
				}
				if err := v.Verify(); err != nil {
					t.Fatalf("streamed: %v", err)
				}
				if got := v.DeliveryID(body); got != want {
					t.Fatalf("delivery id %q, want %q", got, want)
				}
				if v.BodySHA256() != sha256.Sum256(body) || v.Size() != int64(len(body)) {
					t.Fatal("digest or size of the streamed body is wrong")
				}
			}
			// One byte changed anywhere fails every scheme that signs the body.
			if sc.cfg.Scheme != Token {
				v, _ := NewVerifier(sc.cfg, testKeys, h, testNow)
				tampered := bytes.Clone(body)
				tampered[rng.IntN(len(tampered))] ^= 1
				_, _ = v.Write(tampered)
				wantError(t, v.Verify(), http.StatusUnauthorized, ReasonInvalidSignature, h, tampered)
			}
		})
	}
}

// Headers are judged before any body is read: a missing signature fails NewVerifier.
func TestVerifierRefusesBadHeadersUpFront(t *testing.T) {
	for _, sc := range schemeCases {
		_, err := NewVerifier(sc.cfg, testKeys, http.Header{}, testNow)
		var e *Error
		if !errors.As(err, &e) || e.Status != http.StatusBadRequest {
			t.Errorf("%s: NewVerifier without headers = %v, want a 400 *Error", sc.name, err)
		}
	}
}

// A Secret with many keys costs at most MaxKeys MACs per delivery: Keys keeps the newest.
func TestKeysKeepsTheNewestMaxKeys(t *testing.T) {
	data := map[string][]byte{}
	for n := 0; n < 1000; n++ {
		name := SecretKey
		if n > 0 {
			name = fmt.Sprintf("%s-%d", SecretKey, n)
		}
		data[name] = []byte(fmt.Sprintf("key-%d", n))
	}
	keys, err := Keys(data)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != MaxKeys || keys[0].Name != "secret-999" || keys[MaxKeys-1].Name != fmt.Sprintf("secret-%d", 999-MaxKeys+1) {
		t.Fatalf("Keys kept %d keys from %s to %s; want the newest %d", len(keys), keys[0].Name, keys[len(keys)-1].Name, MaxKeys)
	}
}
