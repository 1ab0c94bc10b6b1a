package console

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// The flags of the follow bounds (the webhookserver registers them; refusals name them).
const (
	FlagFollowsPerUser      = "user-max-follows-per-user"
	FlagFollowsPerNamespace = "user-max-follows-per-namespace"
	FlagFollowAccessRecheck = "user-follow-access-recheck"
)

// FollowLimits bound log follows (docs/security.md, "Listener limits"); a zero field takes
// DefaultFollowLimits'.
type FollowLimits struct {
	// PerUser and PerNamespace cap the follows open at once by one user (the name
	// TokenReview gives) and in one namespace; one more is answered 429 TooManyFollows.
	PerUser, PerNamespace int
	// AccessRecheck is how often a follow asks the apiserver again (TokenReview and
	// SubjectAccessReview, uncached) whether its caller may still read the Run's logs;
	// it ends with `end` {"forbidden": true} once not.
	AccessRecheck time.Duration
}

// DefaultFollowLimits: 16 follows per user (a few browser tabs and terminals), 64 per
// namespace (a quarter of the user listener's 256 in-flight requests), access asked again
// every 30 s.
var DefaultFollowLimits = FollowLimits{PerUser: 16, PerNamespace: 64, AccessRecheck: 30 * time.Second}

// Or fills l's zero fields from d.
func (l FollowLimits) Or(d FollowLimits) FollowLimits {
	if l.PerUser <= 0 {
		l.PerUser = d.PerUser
	}
	if l.PerNamespace <= 0 {
		l.PerNamespace = d.PerNamespace
	}
	if l.AccessRecheck <= 0 {
		l.AccessRecheck = d.AccessRecheck
	}
	return l
}

// tokenExpiry reads the exp claim of a JWT bearer token (service account and OIDC tokens
// are JWTs); false for any other token. TokenReview has already accepted the token: the
// claim only tells a follow when to ask again, and is never trusted for access.
func tokenExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(raw, &claims) != nil {
		return time.Time{}, false
	}
	exp, err := claims.Exp.Float64()
	if err != nil || exp <= 0 {
		return time.Time{}, false
	}
	return time.Unix(int64(exp), 0), true
}
