// Package sharedflags declares the flags that the manager and the webhookserver must
// agree on — the database, the step-token key, how effective plans resolve, the public
// base URL — once, so their names, defaults and checks cannot drift apart. Parse and
// NewFlagSet (parse.go) are how every aias command parses its flags and answers --help.
package sharedflags

import (
	"errors"
	"flag"
	"math"
	"os"
	"time"

	"github.com/aias-dev/aias/internal/postgres"
)

// Targets are where the parsed values go (fields of the caller's Options).
type Targets struct {
	DatabaseURL      *string
	DatabaseMaxConns *int
	StepTokenKeyFile *string
	DefaultPlan      *string
	PastDueGrace     *time.Duration
	PublicBaseURL    *string
}

// Register declares the shared flags on fs.
func Register(fs *flag.FlagSet, t Targets) {
	fs.StringVar(t.DatabaseURL, "database-url", os.Getenv(postgres.EnvDatabaseURL), "PostgreSQL URL (default $AIAS_DATABASE_URL)")
	fs.IntVar(t.DatabaseMaxConns, "database-max-conns", 0, "most PostgreSQL connections this process opens; requests wait for a free one past it (0: pool_max_conns in the URL, else the greater of 4 and the number of CPUs)")
	fs.StringVar(t.StepTokenKeyFile, "step-token-key-file", "", "file holding the key (32+ bytes) that signs per-run step tokens; the same file for the manager and the webhookserver")
	fs.StringVar(t.DefaultPlan, "default-plan", "free", "Plan of Tenants without an active subscription or spec.plan (the same for the manager and the webhookserver)")
	fs.DurationVar(t.PastDueGrace, "past-due-grace", 72*time.Hour, "how long a past_due Stripe subscription keeps its plan before the Tenant falls back (the same for both)")
	fs.StringVar(t.PublicBaseURL, "public-base-url", "", "base URL of the public hook listener as senders reach it: makes WebhookEndpoint status.url and the console's endpoint URLs absolute")
}

// Check reports a required shared flag that is missing, or one out of range.
func Check(t Targets) error {
	if *t.DatabaseURL == "" {
		return errors.New("--database-url (or AIAS_DATABASE_URL) is required")
	}
	if *t.StepTokenKeyFile == "" {
		return errors.New("--step-token-key-file is required")
	}
	if n := *t.DatabaseMaxConns; n < 0 || n > math.MaxInt32 {
		return errors.New("--database-max-conns must be between 0 and 2147483647")
	}
	return nil
}
