package hooks

import (
	"context"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	utilcache "k8s.io/apimachinery/pkg/util/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/entitlements"
	"github.com/aias-dev/aias/internal/signature"
)

// The public listener's whole Kubernetes footprint (config/webhookserver/role.yaml is
// generated from these): read endpoints and Secrets, create Runs.
// +kubebuilder:rbac:groups=aias.dev,resources=webhookendpoints,verbs=get;list;watch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// +kubebuilder:rbac:groups=aias.dev,resources=runs,verbs=create
// +kubebuilder:rbac:groups=aias.dev,resources=plans,verbs=get;list;watch

// EndpointSource finds endpoints and their signing keys for the hook server.
type EndpointSource interface {
	// Endpoint returns the named WebhookEndpoint, or an error when there is none.
	Endpoint(ctx context.Context, namespace, name string) (*aiasv1alpha1.WebhookEndpoint, error)
	// Keys returns the usable signing keys of a Secret, newest first; none when the
	// Secret does not exist or holds no usable key.
	Keys(ctx context.Context, namespace, secret string) ([]signature.Key, error)
	// Entitlement returns what binds a namespace (internal/entitlements' one rule); nil
	// when the namespace belongs to no Tenant.
	Entitlement(ctx context.Context, namespace string) (*entitlements.Entitlement, error)
}

// ClusterSource reads endpoints from an informer cache, and signing keys through an
// informer on Secret metadata: a Secret's content is read from the apiserver once per
// resourceVersion — when first used and after each change — never per request, and only
// for Secrets that endpoints use (again after cachedKeysTTL, or once pushed out of the
// maxCachedSecrets kept). The process never holds the cluster's other Secrets.
type ClusterSource struct {
	Cache  cache.Cache   // WebhookEndpoints, Tenants, Plans, and Secret metadata
	Reader client.Reader // direct Secret reads
	// DefaultPlan and PastDueGrace resolve effective plans as the manager does.
	DefaultPlan  string
	PastDueGrace time.Duration

	keysOnce sync.Once
	keys     *utilcache.LRUExpireCache // types.NamespacedName → cachedKeys
}

type cachedKeys struct {
	resourceVersion string // "" for a Secret found missing
	keys            []signature.Key
}

const (
	// missingSecretRecheck bounds how often a missing Secret is looked up in the
	// apiserver, however many deliveries arrive for its endpoint.
	missingSecretRecheck = 2 * time.Second
	// maxCachedSecrets bounds the Secrets whose keys are kept, the ones used last: a
	// cluster's worth of endpoints fits, and one pushed out costs a read at its next use.
	maxCachedSecrets = 16384
	// cachedKeysTTL is how long the keys of an unchanged Secret are kept; the Secrets of
	// deleted endpoints do not stay in memory for longer.
	cachedKeysTTL = 30 * time.Minute
)

// keyCache is the bounded cache of signing keys, made on first use.
func (c *ClusterSource) keyCache() *utilcache.LRUExpireCache {
	c.keysOnce.Do(func() { c.keys = utilcache.NewLRUExpireCache(maxCachedSecrets) })
	return c.keys
}

// Warm starts the informers so the first delivery does not wait for a cache sync.
func (c *ClusterSource) Warm(ctx context.Context) error {
	if _, err := c.Cache.GetInformer(ctx, &aiasv1alpha1.WebhookEndpoint{}); err != nil {
		return err
	}
	_, err := c.Cache.GetInformer(ctx, SecretMetadata())
	return err
}

// SecretMetadata is how the cache given to a ClusterSource must hold Secrets: as metadata
// only, so that the process never holds the cluster's Secrets' data.
func SecretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

func (c *ClusterSource) Endpoint(ctx context.Context, namespace, name string) (*aiasv1alpha1.WebhookEndpoint, error) {
	ep := &aiasv1alpha1.WebhookEndpoint{}
	if err := c.Cache.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, ep); err != nil {
		return nil, err
	}
	return ep, nil
}

func (c *ClusterSource) Keys(ctx context.Context, namespace, name string) ([]signature.Key, error) {
	key := types.NamespacedName{Namespace: namespace, Name: name}
	meta := SecretMetadata()
	err := c.Cache.Get(ctx, key, meta)
	v, ok := c.keyCache().Get(key)
	cached, _ := v.(cachedKeys)
	switch {
	case err == nil && ok && cached.resourceVersion == meta.ResourceVersion:
		return cached.keys, nil
	case apierrors.IsNotFound(err) && ok && cached.resourceVersion == "":
		return nil, nil // known missing, checked a moment ago (the entry expires after missingSecretRecheck)
	case err != nil && !apierrors.IsNotFound(err):
		return nil, err
	}
	// Changed, never seen, or not in the cache yet (a Secret created a moment before the
	// first delivery): read it once from the apiserver.
	secret := &corev1.Secret{}
	if err := c.Reader.Get(ctx, key, secret); err != nil {
		if apierrors.IsNotFound(err) {
			c.keyCache().Add(key, cachedKeys{}, missingSecretRecheck)
			return nil, nil
		}
		return nil, err
	}
	keys, err := signature.Keys(secret.Data)
	if err != nil {
		keys = nil // no usable key: deliveries are refused until the Secret is fixed
	}
	c.keyCache().Add(key, cachedKeys{resourceVersion: secret.ResourceVersion, keys: keys}, cachedKeysTTL)
	return keys, nil
}

// Entitlement resolves the namespace from the cache by internal/entitlements.
func (c *ClusterSource) Entitlement(ctx context.Context, namespace string) (*entitlements.Entitlement, error) {
	res := entitlements.Resolver{Reader: c.Cache, DefaultPlan: c.DefaultPlan, PastDueGrace: c.PastDueGrace}
	return res.ForNamespace(ctx, namespace)
}
