package console

import (
	"context"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// What the external tests (package console_test, which serve the console through the
// webhookserver) read of the package's internals.
const (
	SessionCookie = sessionCookie
	CSRFCookie    = csrfCookie
)

// MaxCachedSpecs bounds CachedSpecs.
const MaxCachedSpecs = maxCachedSpecs

// FrozenSpec reads a frozen spec through the server's cache.
func FrozenSpec(s *Server, ctx context.Context, digest string) (*aiasv1alpha1.WorkflowSpec, error) {
	return s.frozenSpec(ctx, digest)
}

// CachedSpecs is how many decoded specs the server holds.
func CachedSpecs(s *Server) int { return s.specs.Len() }
