package console

// What the external tests (package console_test, which serve the console through the
// webhookserver) read of the package's internals.
const (
	SessionCookie = sessionCookie
	CSRFCookie    = csrfCookie
)
