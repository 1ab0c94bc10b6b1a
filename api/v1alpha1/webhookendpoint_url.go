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
