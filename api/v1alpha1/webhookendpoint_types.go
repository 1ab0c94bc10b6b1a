package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// VerificationScheme is how the webhook server proves a delivery came from the holder of the secret.
// +kubebuilder:validation:Enum=StandardWebhooks;GitHub;Stripe;HMAC;Token
type VerificationScheme string

const (
	// SchemeStandardWebhooks: webhook-id, webhook-timestamp and webhook-signature headers (standardwebhooks.com).
	SchemeStandardWebhooks VerificationScheme = "StandardWebhooks"
	// SchemeGitHub: X-Hub-Signature-256 (HMAC-SHA256 of the body), deduplicated on X-GitHub-Delivery.
	SchemeGitHub VerificationScheme = "GitHub"
	// SchemeStripe: Stripe-Signature "t=...,v1=..." signed by Stripe's endpoint secret.
	SchemeStripe VerificationScheme = "Stripe"
	// SchemeHMAC: an HMAC of the body in a header the endpoint names.
	SchemeHMAC VerificationScheme = "HMAC"
	// SchemeToken: a shared bearer token in the Authorization header (no body signature).
	SchemeToken VerificationScheme = "Token"
)

// HMACAlgorithm is the hash of a plain HMAC signature.
// +kubebuilder:validation:Enum=sha256;sha512
type HMACAlgorithm string

// SignatureEncoding is how a plain HMAC signature is written in its header.
// +kubebuilder:validation:Enum=hex;base64
type SignatureEncoding string

// HMACVerification configures the generic HMAC scheme.
type HMACVerification struct {
	// Header carries the signature, e.g. X-Signature.
	// +required
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9-]+$`
	Header string `json:"header"`

	// Algorithm is the HMAC hash: sha256 (default) or sha512.
	// +optional
	// +kubebuilder:default=sha256
	Algorithm HMACAlgorithm `json:"algorithm,omitempty"`

	// Encoding of the signature: hex (default) or base64.
	// +optional
	// +kubebuilder:default=hex
	Encoding SignatureEncoding `json:"encoding,omitempty"`

	// Prefix precedes the encoded signature in the header, e.g. "sha256=".
	// +optional
	// +kubebuilder:validation:MaxLength=32
	Prefix string `json:"prefix,omitempty"`
}

// Verification says how deliveries to the endpoint are verified.
// +kubebuilder:validation:XValidation:rule="(has(self.scheme) && self.scheme == 'HMAC') == has(self.hmac)",message="hmac must be set when, and only when, scheme is HMAC"
// +kubebuilder:validation:XValidation:rule="!has(self.scheme) || self.scheme != 'Stripe' || has(self.secretRef)",message="secretRef is required for scheme Stripe: Stripe generates the endpoint's signing secret"
// +kubebuilder:validation:XValidation:rule="!has(self.deliveryIDHeader) || (has(self.scheme) && (self.scheme == 'HMAC' || self.scheme == 'Token'))",message="deliveryIDHeader applies to the HMAC and Token schemes only; the others carry their own delivery id"
type Verification struct {
	// Scheme is StandardWebhooks (default), GitHub, Stripe, HMAC or Token.
	// +optional
	// +kubebuilder:default=StandardWebhooks
	Scheme VerificationScheme `json:"scheme,omitempty"`

	// SecretRef names the Secret holding the signing secret. When absent the controller
	// generates Secret <endpoint>-signing with a fresh whsec_ secret. The Secret may hold
	// several keys during rotation: any one verifies.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`

	// Tolerance is how far a signed timestamp may be from the server's clock, in either
	// direction, for the schemes that sign one (StandardWebhooks, Stripe).
	// +optional
	// +kubebuilder:default="5m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s') && duration(self) <= duration('24h')",message="must be between 1s and 24h"
	Tolerance *metav1.Duration `json:"tolerance,omitempty"`

	// HMAC configures the HMAC scheme.
	// +optional
	HMAC *HMACVerification `json:"hmac,omitempty"`

	// DeliveryIDHeader names the header that carries a unique delivery id for the HMAC and
	// Token schemes; redeliveries with the same id map to the same Run. Absent, the body's
	// sha256 is the delivery id.
	// +optional
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9-]+$`
	DeliveryIDHeader string `json:"deliveryIDHeader,omitempty"`
}

// RateLimit is a token bucket per endpoint.
type RateLimit struct {
	// RequestsPerMinute is the sustained rate of accepted deliveries.
	// +required
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=1000000
	RequestsPerMinute int32 `json:"requestsPerMinute"`

	// Burst is the number of deliveries accepted at once above the sustained rate;
	// defaults to RequestsPerMinute/10, at least 1.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=100000
	Burst *int32 `json:"burst,omitempty"`
}

// WebhookEndpointSpec declares a URL that starts Runs of a Workflow when called with a valid signature.
type WebhookEndpointSpec struct {
	// WorkflowRef is the Workflow, in this namespace, that deliveries start.
	// +required
	WorkflowRef WorkflowReference `json:"workflowRef"`

	// Verification says how deliveries are verified.
	// +optional
	// +kubebuilder:default={}
	Verification Verification `json:"verification,omitempty"`

	// MaxBodyBytes is the largest body accepted (413 above it); default 1 MiB, at most 32 MiB.
	// +optional
	// +kubebuilder:default=1048576
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=33554432
	MaxBodyBytes *int64 `json:"maxBodyBytes,omitempty"`

	// ReplayWindow is how long every verified delivery is remembered in the delivery
	// ledger: within it a redelivery (same delivery id) is answered 200 "duplicate" even
	// when its Run no longer exists, and for GitHub, HMAC and Token — whose signature
	// covers neither a timestamp nor the delivery id — a second delivery of the same body
	// is a duplicate whatever id it claims. For StandardWebhooks and Stripe the window is
	// at least twice the tolerance. Default 72h, at most 30 days.
	// +optional
	// +kubebuilder:default="72h"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1m') && duration(self) <= duration('720h')",message="must be between 1m and 720h"
	ReplayWindow *metav1.Duration `json:"replayWindow,omitempty"`

	// RateLimit caps deliveries to this endpoint (429 with Retry-After above it).
	// +optional
	RateLimit *RateLimit `json:"rateLimit,omitempty"`

	// Suspend refuses deliveries with 423 while true; nothing is lost on the sender's side
	// because senders retry.
	// +optional
	Suspend bool `json:"suspend,omitempty"`

	// Filter is a CEL expression over the verified delivery; a delivery for which it is
	// false is answered 200 "filtered" and starts nothing. Variables: body (the parsed
	// JSON, or the text when the body is not JSON), headers (lower-cased names, values of
	// repeated headers joined by ", "; signature and authorization headers left out) and
	// deliveryID. Example: body.ref == "refs/heads/main".
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Filter string `json:"filter,omitempty"`

	// Params are CEL expressions, over the same variables as filter, whose values become
	// the Run's params, e.g. branch: body.ref.split("/")[2]. A string, number or bool
	// result is used as text; anything else, or an error at delivery time, answers 422.
	// +optional
	// +kubebuilder:validation:MaxProperties=64
	// +kubebuilder:validation:XValidation:rule="self.all(k, k.matches('^[A-Za-z_][A-Za-z0-9_]*$') && size(k) <= 63)",message="parameter names are letters, digits and underscores (at most 63), not starting with a digit"
	// +kubebuilder:validation:XValidation:rule="self.all(k, size(self[k]) <= 4096)",message="an expression is at most 4096 characters"
	Params map[string]string `json:"params,omitempty"`
}

// WebhookEndpointStatus publishes the endpoint's URL and signing secret location.
type WebhookEndpointStatus struct {
	// ObservedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// URL is where deliveries are POSTed: /hooks/<namespace>/<name>, absolute when the
	// server knows its public base URL.
	// +optional
	URL string `json:"url,omitempty"`
	// SecretRef names the Secret in use (the given one or the generated one). The secret
	// itself never appears in status or events.
	// +optional
	SecretRef *SecretReference `json:"secretRef,omitempty"`
	// LastDeliveryTime is when the last verified delivery arrived.
	// +optional
	LastDeliveryTime *metav1.Time `json:"lastDeliveryTime,omitempty"`
	// Conditions describe the endpoint's state; Ready is always present once reconciled.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=awh,categories=aias
// +kubebuilder:printcolumn:name="Workflow",type=string,JSONPath=`.spec.workflowRef.name`
// +kubebuilder:printcolumn:name="Scheme",type=string,JSONPath=`.spec.verification.scheme`,priority=1
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.status.url`
// +kubebuilder:printcolumn:name="Suspended",type=boolean,JSONPath=`.spec.suspend`,priority=1
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`

// WebhookEndpoint is a URL plus a signing secret: verified deliveries to it start Runs
// of its Workflow, one per delivery id.
type WebhookEndpoint struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec WebhookEndpointSpec `json:"spec"`
	// +optional
	Status WebhookEndpointStatus `json:"status,omitempty"`
}

// +kubebuilder:object:root=true

// WebhookEndpointList is a list of WebhookEndpoints.
type WebhookEndpointList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []WebhookEndpoint `json:"items"`
}

func init() {
	register(&WebhookEndpoint{}, &WebhookEndpointList{})
}
