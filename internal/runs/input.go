package runs

import (
	"context"
	"fmt"
	"unicode/utf8"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// InputStore keeps payloads too large (or not text) for a Run's spec; internal/store's
// Store is one. An interface, so this package needs no database.
type InputStore interface {
	// PutInput stores content and returns its digest ("sha256:<hex>").
	PutInput(ctx context.Context, namespace string, content []byte, contentType string) (string, error)
}

// Payload is how body travels with its Run: inline when it is small text, otherwise
// stored first (by digest) and referenced, so etcd never holds more than the inline cap.
func Payload(ctx context.Context, st InputStore, namespace string, body []byte, contentType string) (Input, error) {
	if len(body) <= aiasv1alpha1.MaxInlineInputLength && utf8.Valid(body) {
		inline := string(body)
		return Input{Inline: &inline}, nil
	}
	if contentType == "" {
		contentType = "application/octet-stream"
	}
	digest, err := st.PutInput(ctx, namespace, body, contentType)
	if err != nil {
		return Input{}, fmt.Errorf("storing the payload: %w", err)
	}
	return Input{Ref: &aiasv1alpha1.InputReference{Digest: digest, Size: int64(len(body)), ContentType: contentType}}, nil
}
