package webhookserver

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
)

// Options configure `aias webhookserver`.
type Options struct {
	InternalAddr     string
	DatabaseURL      string
	StepTokenKeyFile string
	MaxArtifactBytes int64
	MaxLogBatch      int
}

// ParseFlags reads the webhookserver flags.
func ParseFlags(args []string) (Options, error) {
	var o Options
	fs := flag.NewFlagSet("webhookserver", flag.ContinueOnError)
	fs.StringVar(&o.InternalAddr, "internal-bind-address", ":8082", "address of the internal step API (reachable from step pods only)")
	fs.StringVar(&o.DatabaseURL, "database-url", os.Getenv(postgres.EnvDatabaseURL), "PostgreSQL URL (default $AIAS_DATABASE_URL)")
	fs.StringVar(&o.StepTokenKeyFile, "step-token-key-file", "", "file holding the key (32+ bytes) that signs per-run step tokens; shared with the manager")
	fs.Int64Var(&o.MaxArtifactBytes, "max-artifact-bytes", 1<<30, "largest single artifact accepted")
	fs.IntVar(&o.MaxLogBatch, "max-log-batch", 1000, "most log lines in one append")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.DatabaseURL == "" {
		return o, errors.New("--database-url (or AIAS_DATABASE_URL) is required")
	}
	if o.StepTokenKeyFile == "" {
		return o, errors.New("--step-token-key-file is required")
	}
	return o, nil
}

// Serve runs the listeners until ctx is done, then drains them.
func Serve(ctx context.Context, o Options, ready func(internalAddr string)) error {
	key, err := os.ReadFile(o.StepTokenKeyFile)
	if err != nil {
		return fmt.Errorf("reading step token key: %w", err)
	}
	tokens, err := steptoken.NewIssuer(key)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, o.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	api := &InternalAPI{Store: st, Tokens: tokens, MaxArtifactBytes: o.MaxArtifactBytes, MaxLogBatch: o.MaxLogBatch}
	l, err := net.Listen("tcp", o.InternalAddr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: api.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errs := make(chan error, 1)
	go func() { errs <- srv.Serve(l) }()
	if ready != nil {
		ready(l.Addr().String())
	}
	select {
	case err := <-errs:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}
