package v1alpha1

import "strings"

// HookURL is where senders deliver to this endpoint: `/hooks/<namespace>/<name>` on the
// public listener, absolute when base (the listener's public base URL) is given. The
// WebhookEndpoint controller publishes it as status.url; the console shows it.
func (e *WebhookEndpoint) HookURL(base string) string {
	path := "/hooks/" + e.Namespace + "/" + e.Name
	if base == "" {
		return path
	}
	return strings.TrimRight(base, "/") + path
}

// GeneratedSigningSecretSuffix ends the name of the signing Secret the controller
// generates for an endpoint that names none: `<endpoint>-signing`.
const GeneratedSigningSecretSuffix = "-signing"

// GeneratedSigningSecretName is the signing Secret the controller generates for the
// endpoint named endpoint when spec.verification.secretRef is absent.
func GeneratedSigningSecretName(endpoint string) string {
	return endpoint + GeneratedSigningSecretSuffix
}

// SigningSecretName is the Secret whose keys verify deliveries to the endpoint: the one
// spec.verification.secretRef names, else the generated one the controller vouches for
// in status.secretRef. It is empty while there is none, for example while a Secret the
// endpoint does not control squats the generated name: such a Secret never verifies.
func (e *WebhookEndpoint) SigningSecretName() string {
	switch {
	case e.Spec.Verification.SecretRef != nil:
		return e.Spec.Verification.SecretRef.Name
	case e.Status.SecretRef != nil:
		return e.Status.SecretRef.Name
	}
	return ""
}
