package controllers

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

const (
	// LabelWebhookEndpoint marks a generated signing Secret with its endpoint's name.
	LabelWebhookEndpoint = "aias.dev/webhookendpoint"
	// labelManagedBy marks what AIAS created.
	labelManagedBy = "app.kubernetes.io/managed-by"

	// SigningKey is the data key of a generated signing Secret. Rotation adds
	// SigningKey-<N> keys (N a positive integer); any usable key verifies a delivery and the
	// highest N (SigningKey counting as 0) signs.
	SigningKey = "secret"
	// StandardWebhooksSecretPrefix starts a Standard Webhooks secret; base64 follows it.
	StandardWebhooksSecretPrefix = "whsec_"

	signingSecretSuffix = "-signing"
	// signingSecretBytes is the entropy of a generated secret.
	signingSecretBytes = 32
	// maxListedKeys bounds how many key names a condition message lists.
	maxListedKeys = 10
)

// signingSecretName is the Secret the controller generates for an endpoint without secretRef.
func signingSecretName(endpoint string) string { return endpoint + signingSecretSuffix }

// secretCheck is what the reconcile learned about the endpoint's signing Secret.
type secretCheck struct {
	// name is the Secret the endpoint uses; empty when it has none it may use.
	name string
	// problem makes the endpoint not Ready; nil when the Secret holds a usable key.
	problem *workflowProblem
	// usable are the usable key names, newest first.
	usable []string
	// malformed describes the keys with a signing-key name but an unusable value,
	// without their values.
	malformed []string
}

// reconcileSecret finds the endpoint's signing Secret, generating it when the endpoint
// names none and it does not exist yet, and checks its keys. Secrets are read with the
// API reader only. An error means the Secret could not be read or created.
func (r *WebhookEndpointReconciler) reconcileSecret(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint) (secretCheck, error) {
	if ref := ep.Spec.Verification.SecretRef; ref != nil {
		secret, err := r.readSecret(ctx, ep.Namespace, ref.Name)
		if err != nil {
			return secretCheck{}, err
		}
		if secret == nil {
			return secretCheck{name: ref.Name, problem: &workflowProblem{ReasonSecretNotFound,
				fmt.Sprintf("spec.verification.secretRef: Secret %q not found", ref.Name)}}, nil
		}
		return checkSecret(ep, secret), nil
	}

	name := signingSecretName(ep.Name)
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return secretCheck{problem: &workflowProblem{ReasonSecretNotFound, fmt.Sprintf(
			"cannot generate a signing Secret: the name %q would be invalid (%s); name a Secret in spec.verification.secretRef",
			shortenNote(name, 80), strings.Join(msgs, "; "))}}, nil
	}
	secret, err := r.readSecret(ctx, ep.Namespace, name)
	if err != nil {
		return secretCheck{}, err
	}
	if secret == nil {
		created, err := r.createSigningSecret(ctx, ep, name)
		if err != nil {
			return secretCheck{}, err
		}
		if created {
			// Nothing to check: we just wrote a usable key.
			return secretCheck{name: name, usable: []string{SigningKey}}, nil
		}
		// Someone else created it meanwhile: look at what is there.
		if secret, err = r.readSecret(ctx, ep.Namespace, name); err != nil {
			return secretCheck{}, err
		}
		if secret == nil {
			return secretCheck{}, fmt.Errorf("secret %s/%s already exists yet cannot be found; retrying", ep.Namespace, name)
		}
	}
	if !metav1.IsControlledBy(secret, ep) {
		// Not ours to use, nor to touch: it may hold anybody's secret.
		return secretCheck{problem: &workflowProblem{ReasonSecretConflict, fmt.Sprintf(
			"Secret %q exists but is not controlled by this WebhookEndpoint; delete or rename it, or name it in spec.verification.secretRef to use it",
			name)}}, nil
	}
	return checkSecret(ep, secret), nil
}

// readSecret reads a Secret straight from the API server; nil when it does not exist.
func (r *WebhookEndpointReconciler) readSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	secret := &corev1.Secret{}
	if err := r.apiReader().Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading Secret %s/%s: %w", namespace, name, err)
	}
	return secret, nil
}

// createSigningSecret creates the endpoint's signing Secret with a fresh secret, owned by
// the endpoint. It reports false when a Secret of that name already exists: an existing
// one is never overwritten.
func (r *WebhookEndpointReconciler) createSigningSecret(ctx context.Context, ep *aiasv1alpha1.WebhookEndpoint, name string) (bool, error) {
	value, err := newSigningSecret()
	if err != nil {
		return false, err
	}
	labels := map[string]string{labelManagedBy: "aias"}
	if len(validation.IsValidLabelValue(ep.Name)) == 0 {
		labels[LabelWebhookEndpoint] = ep.Name
	} else {
		// Longer than a label value may be: the name `<endpoint>-signing` still maps it.
		labels[LabelWebhookEndpoint] = childName(ep.Name)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ep.Namespace, Name: name, Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{SigningKey: value},
	}
	if err := controllerutil.SetControllerReference(ep, secret, r.Scheme); err != nil {
		return false, err
	}
	err = r.Create(ctx, secret)
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		// The API server's message names the object, never a data value.
		return false, fmt.Errorf("creating signing Secret %s/%s: %w", ep.Namespace, name, err)
	}
	related := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: secret.Namespace, Name: secret.Name, UID: secret.UID}}
	r.Recorder.Eventf(ep, related, corev1.EventTypeNormal, ReasonSecretGenerated, "GenerateSecret",
		"Generated signing Secret %q (key %q)", name, SigningKey)
	return true, nil
}

// newSigningSecret returns "whsec_" and the standard base64 of 32 random bytes.
func newSigningSecret() ([]byte, error) {
	raw := make([]byte, signingSecretBytes)
	if _, err := rand.Read(raw); err != nil {
		return nil, fmt.Errorf("generating a signing secret: %w", err)
	}
	out := make([]byte, len(StandardWebhooksSecretPrefix)+base64.StdEncoding.EncodedLen(len(raw)))
	copy(out, StandardWebhooksSecretPrefix)
	base64.StdEncoding.Encode(out[len(StandardWebhooksSecretPrefix):], raw)
	return out, nil
}

// checkSecret checks the keys of the endpoint's Secret for its verification scheme.
func checkSecret(ep *aiasv1alpha1.WebhookEndpoint, secret *corev1.Secret) secretCheck {
	usable, malformed := checkSigningKeys(ep.Spec.Verification.Scheme, secret.Data)
	sc := secretCheck{name: secret.Name, usable: usable, malformed: malformed}
	if len(usable) > 0 {
		return sc
	}
	expect := fmt.Sprintf("expected a key %q or %q (N a positive integer)", SigningKey, SigningKey+"-<N>")
	if isStandardWebhooks(ep.Spec.Verification.Scheme) {
		expect += fmt.Sprintf(" holding %q followed by base64", StandardWebhooksSecretPrefix)
	}
	msg := fmt.Sprintf("Secret %q has no usable signing key: %s", secret.Name, expect)
	if len(malformed) > 0 {
		msg += "; " + strings.Join(malformed, "; ")
	} else {
		keys := make([]string, 0, len(secret.Data))
		for k := range secret.Data {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		if len(keys) == 0 {
			msg += "; it has no keys"
		} else {
			if len(keys) > maxListedKeys {
				keys = append(keys[:maxListedKeys:maxListedKeys], "...")
			}
			msg += "; it has keys " + quotedList(keys)
		}
	}
	sc.problem = &workflowProblem{ReasonSecretInvalid, msg}
	return sc
}

func isStandardWebhooks(s aiasv1alpha1.VerificationScheme) bool {
	return s == "" || s == aiasv1alpha1.SchemeStandardWebhooks
}

// signingKeyIndex reports whether name is a signing key name, and its rotation index:
// "secret" is 0, "secret-<N>" is N (a positive integer written without sign or leading zero).
func signingKeyIndex(name string) (uint64, bool) {
	if name == SigningKey {
		return 0, true
	}
	digits, ok := strings.CutPrefix(name, SigningKey+"-")
	if !ok || digits == "" || digits[0] < '1' || digits[0] > '9' {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(digits, 10, 64)
	return n, err == nil
}

// checkSigningKeys returns the usable signing keys of a Secret's data, newest (highest
// index) first, and a description of each signing key whose value is unusable for the
// scheme. Descriptions name keys, never values. Other keys are ignored.
func checkSigningKeys(scheme aiasv1alpha1.VerificationScheme, data map[string][]byte) (usable, malformed []string) {
	type key struct {
		name  string
		index uint64
	}
	var keys []key
	for name := range data {
		if i, ok := signingKeyIndex(name); ok {
			keys = append(keys, key{name, i})
		}
	}
	slices.SortFunc(keys, func(a, b key) int {
		switch {
		case a.index > b.index:
			return -1
		case a.index < b.index:
			return 1
		}
		return 0
	})
	for _, k := range keys {
		if problem := signingValueProblem(scheme, data[k.name]); problem != "" {
			malformed = append(malformed, fmt.Sprintf("key %q %s", k.name, problem))
			continue
		}
		usable = append(usable, k.name)
	}
	return usable, malformed
}

// signingValueProblem says what is wrong with a signing key's value, without quoting it;
// empty when it is usable.
func signingValueProblem(scheme aiasv1alpha1.VerificationScheme, v []byte) string {
	if len(v) == 0 {
		return "is empty"
	}
	if !isStandardWebhooks(scheme) {
		return ""
	}
	rest, ok := strings.CutPrefix(string(v), StandardWebhooksSecretPrefix)
	if !ok {
		return fmt.Sprintf("does not start with %q", StandardWebhooksSecretPrefix)
	}
	decoded, err := base64.StdEncoding.DecodeString(rest)
	if err != nil {
		return fmt.Sprintf("is not standard base64 after %q", StandardWebhooksSecretPrefix)
	}
	if len(decoded) == 0 {
		return fmt.Sprintf("has nothing after %q", StandardWebhooksSecretPrefix)
	}
	return ""
}

// secretMetadata is the type of the Secret watch: metadata only, never data.
func secretMetadata() *metav1.PartialObjectMetadata {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Secret"))
	return m
}

// secretMetadataCache is the controller's own cache of Secret metadata. The manager's
// cache would keep each Secret's annotations, and `kubectl apply` stores a Secret's whole
// content, data included, in the last-applied-configuration annotation; this cache keeps
// only the fields the watch maps on. It is a runnable the manager starts with its caches.
type secretMetadataCache struct{ cache.Cache }

// GetCache makes the manager start it before the controllers and wait for its sync.
func (c secretMetadataCache) GetCache() cache.Cache { return c.Cache }

func newSecretMetadataCache(mgr ctrl.Manager) (secretMetadataCache, error) {
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient:       mgr.GetHTTPClient(),
		Scheme:           mgr.GetScheme(),
		Mapper:           mgr.GetRESTMapper(),
		DefaultTransform: stripSecretMetadata,
	})
	if err != nil {
		return secretMetadataCache{}, fmt.Errorf("creating the Secret metadata cache: %w", err)
	}
	return secretMetadataCache{c}, nil
}

// stripSecretMetadata keeps a Secret's identity and the one label the watch maps on;
// annotations (which may hold the data), managed fields and the rest are dropped before
// the object is stored.
func stripSecretMetadata(obj any) (any, error) {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok {
		return obj, nil
	}
	out := &metav1.PartialObjectMetadata{
		TypeMeta: m.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Namespace:         m.Namespace,
			Name:              m.Name,
			UID:               m.UID,
			ResourceVersion:   m.ResourceVersion,
			CreationTimestamp: m.CreationTimestamp,
			DeletionTimestamp: m.DeletionTimestamp,
		},
	}
	if v, ok := m.Labels[LabelWebhookEndpoint]; ok {
		out.Labels = map[string]string{LabelWebhookEndpoint: v}
	}
	return out, nil
}
