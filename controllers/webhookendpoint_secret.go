package controllers

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
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
	"github.com/aias-dev/aias/internal/signature"
)

// maxListedKeys bounds how many key names a condition message lists.
const maxListedKeys = 10

// secretCheck is what the reconcile learned about the endpoint's signing Secret.
type secretCheck struct {
	// name is the Secret the endpoint uses; empty when it has none it may use.
	name string
	// problem makes the endpoint not Ready; nil when the Secret holds a usable key.
	problem *readyProblem
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
			return secretCheck{name: ref.Name, problem: &readyProblem{aiasv1alpha1.ReasonSecretNotFound,
				fmt.Sprintf("spec.verification.secretRef: Secret %q not found", ref.Name)}}, nil
		}
		return checkSecret(ep, secret), nil
	}

	name := aiasv1alpha1.GeneratedSigningSecretName(ep.Name)
	if msgs := validation.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return secretCheck{problem: &readyProblem{aiasv1alpha1.ReasonSecretNotFound, fmt.Sprintf(
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
			return secretCheck{name: name, usable: []string{signature.SecretKey}}, nil
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
		return secretCheck{problem: &readyProblem{aiasv1alpha1.ReasonSecretConflict, fmt.Sprintf(
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
	value, err := signature.NewSecret()
	if err != nil {
		return false, err
	}
	labels := map[string]string{aiasv1alpha1.LabelManagedBy: aiasv1alpha1.ManagedByAias}
	if len(validation.IsValidLabelValue(ep.Name)) == 0 {
		labels[aiasv1alpha1.LabelWebhookEndpoint] = ep.Name
	} else {
		// Longer than a label value may be: the name `<endpoint>-signing` still maps it.
		labels[aiasv1alpha1.LabelWebhookEndpoint] = childName(ep.Name)
	}
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ep.Namespace, Name: name, Labels: labels},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{signature.SecretKey: []byte(value)},
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
	r.Recorder.Eventf(ep, related, corev1.EventTypeNormal, aiasv1alpha1.ReasonSecretGenerated, "GenerateSecret",
		"Generated signing Secret %q (key %q)", name, signature.SecretKey)
	return true, nil
}

// checkSecret checks the keys of the endpoint's Secret with the rules the hook listener
// verifies by (internal/signature): the usable keys are exactly those Verify uses, and
// every key it would skip is named with the reason. Messages never quote a value.
func checkSecret(ep *aiasv1alpha1.WebhookEndpoint, secret *corev1.Secret) secretCheck {
	sc := secretCheck{name: secret.Name}
	cfg := signature.ConfigFor(ep.Spec.Verification)
	if err := cfg.Validate(); err != nil {
		// The schema rules out every such spec; an older apiserver might not.
		sc.problem = &readyProblem{aiasv1alpha1.ReasonSecretInvalid, "spec.verification: " + err.Error()}
		return sc
	}
	keys, err := signature.Keys(secret.Data)
	if err == nil {
		for _, k := range signature.Usable(cfg, keys) {
			sc.usable = append(sc.usable, k.Name)
		}
		sc.malformed = keyProblems(signature.CheckKeys(cfg, keys))
	}
	if len(sc.usable) > 0 {
		return sc
	}
	expect := fmt.Sprintf("expected a key %q or %q (N from 1 to %d)", signature.SecretKey, signature.SecretKey+"-<N>", signature.MaxKeyNumber)
	if cfg.Scheme == signature.StandardWebhooks {
		expect += fmt.Sprintf(" holding standard base64, optionally after %q", signature.SecretPrefix)
	}
	msg := fmt.Sprintf("Secret %q has no usable signing key: %s", secret.Name, expect)
	if len(sc.malformed) > 0 {
		msg += "; " + strings.Join(sc.malformed, "; ")
	} else {
		names := slices.Sorted(maps.Keys(secret.Data))
		if len(names) == 0 {
			msg += "; it has no keys"
		} else {
			if len(names) > maxListedKeys {
				names = append(names[:maxListedKeys:maxListedKeys], "...")
			}
			msg += "; it has keys " + quotedList(names)
		}
	}
	sc.problem = &readyProblem{aiasv1alpha1.ReasonSecretInvalid, msg}
	return sc
}

// keyProblems lists what CheckKeys found, one sentence per skipped key.
func keyProblems(err error) []string {
	if err == nil {
		return nil
	}
	var out []string
	var walk func(error)
	walk = func(err error) {
		if joined, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range joined.Unwrap() {
				walk(e)
			}
			return
		}
		var ke *signature.KeyError
		if errors.As(err, &ke) {
			out = append(out, ke.Error())
		} else {
			out = append(out, err.Error())
		}
	}
	walk(err)
	return out
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
	if v, ok := m.Labels[aiasv1alpha1.LabelWebhookEndpoint]; ok {
		out.Labels = map[string]string{aiasv1alpha1.LabelWebhookEndpoint: v}
	}
	return out, nil
}
