// Package webhookserver is `aias webhookserver`: it parses the flags, opens the store and
// the one Kubernetes cache the listeners share, and serves each listener on its own port.
// Each listener is an http.Handler of its own package:
//
//   - hooks: the public hook listener, POST /hooks/{namespace}/{endpoint}, each verified
//     delivery one Run;
//   - billing: Stripe events at billing.Path (POST /billing/stripe), on the public listener
//     beside the hooks when a signing secret is configured;
//   - stepapi: the internal step API that step pods talk to (never exposed publicly);
//   - console: the user listener, the user API and the embedded web console.
//
// This package owns only what they share: Options and ParseFlags, Start and Serve with the
// listeners' set-up, the informer cache of endpoints, Tenants, Plans and Secret metadata,
// the public listener's routing, and the metrics Registry filled with each package's
// collectors. internal/httpjson writes the JSON answers (and the {"error","reason"} body)
// of every listener; internal/servertest holds what their tests share.
package webhookserver
