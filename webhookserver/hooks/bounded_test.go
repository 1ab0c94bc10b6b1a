package hooks

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

func limitedEndpoint(uid string, perMinute, burst int32) *aiasv1alpha1.WebhookEndpoint {
	return &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{UID: types.UID(uid)},
		Spec: aiasv1alpha1.WebhookEndpointSpec{RateLimit: &aiasv1alpha1.RateLimit{RequestsPerMinute: perMinute, Burst: ptr.To(burst)}}}
}

// Many distinct endpoints delivering once leave no bucket behind once theirs have filled
// up again, while an endpoint still paying back its deliveries keeps its bucket (and its
// refusals).
func TestRateLimitBucketsAreEvicted(t *testing.T) {
	var l rateLimits
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const n = 20000
	for i := range n {
		if _, ok := l.allow(limitedEndpoint(fmt.Sprintf("ep-%d", i), 60, 1), t0.Add(time.Duration(i)*time.Microsecond)); !ok {
			t.Fatalf("first delivery of endpoint %d refused", i)
		}
	}
	busy := limitedEndpoint("busy", 1, 1) // one per minute
	if _, ok := l.allow(busy, t0.Add(50*time.Second)); !ok {
		t.Fatal("busy: first delivery refused")
	}
	if _, ok := l.allow(busy, t0.Add(51*time.Second)); ok {
		t.Fatal("busy: second delivery within the minute accepted")
	}
	// A minute on, the sweep runs: the one-shot endpoints' buckets refilled in a second.
	at := t0.Add(sweepEvery + time.Second)
	if _, ok := l.allow(busy, at); ok {
		t.Error("busy: the sweep forgot an endpoint that is still paying back")
	}
	if got := len(l.buckets); got > 1 {
		t.Errorf("%d buckets after %d endpoints delivered once a minute ago, want only busy's", got, n)
	}
	// Once busy's bucket is full it goes too, and its next delivery is accepted as before.
	at = at.Add(2 * sweepEvery)
	if _, ok := l.allow(busy, at); !ok {
		t.Error("busy: delivery after its bucket refilled refused")
	}
	if got := len(l.buckets); got != 1 {
		t.Errorf("%d buckets, want busy's fresh one", got)
	}
}

// Secrets named secret-<n>: every even one exists (resourceVersion "1"), every odd one is
// missing. metadataCache is the informer's view of them, apiserver the direct reads.
func exists(name string) bool {
	var n int
	_, _ = fmt.Sscanf(name, "secret-%d", &n)
	return n%2 == 0
}

func notFound(name string) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
}

type metadataCache struct{ cache.Cache }

func (metadataCache) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	if !exists(key.Name) {
		return notFound(key.Name)
	}
	obj.SetName(key.Name)
	obj.SetResourceVersion("1")
	return nil
}

type apiserver struct {
	client.Reader
	reads *int
}

func (a apiserver) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	*a.reads++
	if !exists(key.Name) {
		return notFound(key.Name)
	}
	s := obj.(*corev1.Secret)
	s.Name, s.ResourceVersion = key.Name, "1"
	s.Data = map[string][]byte{"secret": []byte("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")}
	return nil
}

// The signing keys of many distinct Secrets, existing or missing, stay within
// maxCachedSecrets entries; a Secret used again is still answered from the cache.
func TestSigningKeyCacheIsBounded(t *testing.T) {
	var reads int
	src := &ClusterSource{Cache: metadataCache{}, Reader: apiserver{reads: &reads}}
	ctx := context.Background()
	n := maxCachedSecrets + 5000
	for i := range n {
		keys, err := src.Keys(ctx, "ns", fmt.Sprintf("secret-%d", i))
		if err != nil || (len(keys) > 0) != exists(fmt.Sprintf("secret-%d", i)) {
			t.Fatalf("secret-%d: %v %v", i, keys, err)
		}
	}
	if got := len(src.keys.Keys()); got > maxCachedSecrets {
		t.Errorf("%d Secrets cached after %d distinct ones, want at most %d", got, n, maxCachedSecrets)
	}
	before := reads
	for _, name := range []string{fmt.Sprintf("secret-%d", n-2), fmt.Sprintf("secret-%d", n-1)} { // the latest: one exists, one is missing
		if _, err := src.Keys(ctx, "ns", name); err != nil {
			t.Fatal(err)
		}
	}
	if reads != before {
		t.Errorf("%d apiserver reads for Secrets just cached, want none", reads-before)
	}
}

// An unverified delivery costs its source one token per MiB it made the listener read
// (at most the burst), so a forger of large bodies is stopped after a few of them, not
// after as many as a forger of small ones.
func TestUnverifiedCostIsByBytes(t *testing.T) {
	s := &sources{perMinute: 60, burst: 60}
	addr := netip.MustParseAddr("192.0.2.7")
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := mibCost(0, 60); got != 1 {
		t.Errorf("an empty body costs %d, want 1", got)
	}
	if got := mibCost(32<<20, 60); got != 32 {
		t.Errorf("a 32 MiB body costs %d, want 32", got)
	}
	if got := mibCost(1<<30, 60); got != 60 {
		t.Errorf("a body past the burst costs %d, want the burst", got)
	}
	s.charge(addr, t0, 32<<20)
	if _, ok := s.mayTry(addr, t0); !ok {
		t.Fatal("refused after one 32 MiB body with a burst of 60")
	}
	s.charge(addr, t0, 32<<20)
	wait, ok := s.mayTry(addr, t0)
	if ok || wait < 4*time.Second {
		t.Fatalf("after two 32 MiB bodies (64 tokens of 60): may try %v, wait %v; want a wait of about 5 s", ok, wait)
	}
}
