package signature

import (
	"bytes"
	"testing"
)

// benchmarkVerifyStandardWebhooks measures Verify alone (header parsing, HMAC-SHA256 of
// the body, comparison, tolerance) for a Standard Webhooks delivery of size bytes,
// signed with the newest of two keys.
func benchmarkVerifyStandardWebhooks(b *testing.B, size int) {
	body := bytes.Repeat([]byte(`{"k":"v"},`), size/10+1)[:size]
	h, err := Sign(Config{}, keyNew, "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", body, testNow)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Verify(Config{}, testKeys, h, body, testNow); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyStandardWebhooks1KiB(b *testing.B) { benchmarkVerifyStandardWebhooks(b, 1<<10) }
func BenchmarkVerifyStandardWebhooks1MiB(b *testing.B) { benchmarkVerifyStandardWebhooks(b, 1<<20) }
