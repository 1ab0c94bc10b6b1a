package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// The user commands' environment. The older names AIAS_API_URL and AIAS_TOKEN are still
// read, with a warning: inside a step pod they are the internal step API's address and
// the run's token (internal/stepjob), which is not what the CLI wants.
const (
	envServer    = "AIAS_SERVER"     // URL of the user API
	envUserToken = "AIAS_USER_TOKEN" // Kubernetes bearer token for the user API

	deprecatedEnvServer    = "AIAS_API_URL"
	deprecatedEnvUserToken = "AIAS_TOKEN"
)

// deprecationWarnings is where a deprecated variable is reported (stderr; a test swaps it).
var deprecationWarnings io.Writer = os.Stderr

// warnedOnce keeps each deprecated name to one warning per process.
var warnedOnce sync.Map

// getenv returns $name, else $deprecated with a warning saying to rename it. An empty
// variable counts as unset, as for the flags.
func getenv(name, deprecated string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	v := os.Getenv(deprecated)
	if v == "" {
		return ""
	}
	if _, warned := warnedOnce.LoadOrStore(deprecated, true); !warned {
		fmt.Fprintf(deprecationWarnings, "Warning: %s is deprecated for the %s CLI, set %s instead\n", deprecated, progName(), name)
	}
	return v
}
