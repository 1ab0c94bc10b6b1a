// Package webhookserver holds the HTTP listeners of `aias webhookserver`: the public hook
// and billing routes, the internal step API that step pods talk to, and the user API + UI.
// Each listener is its own http.Handler so each can be bound to its own port.
package webhookserver
