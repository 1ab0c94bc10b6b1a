package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/jackc/pgx/v5"
)

// EnvDatabaseURL names the variable that points AIAS at an existing PostgreSQL.
const EnvDatabaseURL = "AIAS_DATABASE_URL"

// localAddr is where this project's machines run a trust-auth PostgreSQL before a session.
const localAddr = "127.0.0.1:5432"

// Server is a PostgreSQL the caller may create databases on.
type Server struct {
	// AdminURL connects to a maintenance database with the right to create databases.
	AdminURL  string
	ephemeral *Ephemeral
}

// Acquire returns AIAS_DATABASE_URL's server, else the local one at 127.0.0.1:5432, else
// a freshly started ephemeral server. Release stops an ephemeral server and does nothing
// to the others.
func Acquire(ctx context.Context, logf func(string, ...any)) (*Server, error) {
	if u := os.Getenv(EnvDatabaseURL); u != "" {
		return &Server{AdminURL: u}, nil
	}
	if reachable(localAddr) {
		return &Server{AdminURL: "postgres://postgres@" + localAddr + "/postgres?sslmode=disable"}, nil
	}
	e, err := StartEphemeral(ctx, logf)
	if err != nil {
		return nil, err
	}
	return &Server{AdminURL: e.URL(), ephemeral: e}, nil
}

// Release stops the server when Acquire started it.
func (s *Server) Release() error {
	if s.ephemeral == nil {
		return nil
	}
	return s.ephemeral.Stop()
}

var unsafeName = regexp.MustCompile(`[^a-z0-9_]+`)

// CreateDatabase makes a new, uniquely named database (prefix plus random suffix) and
// returns its URL and a function that drops it, closing any connections left open.
func (s *Server) CreateDatabase(ctx context.Context, prefix string) (string, func(context.Context) error, error) {
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", nil, err
	}
	name := unsafeName.ReplaceAllString(strings.ToLower(prefix), "_") + "_" + hex.EncodeToString(suffix)
	if len(name) > 63 {
		name = name[len(name)-63:]
	}
	conn, err := pgx.Connect(ctx, s.AdminURL)
	if err != nil {
		return "", nil, fmt.Errorf("connecting to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
		return "", nil, fmt.Errorf("creating database %s: %w", name, err)
	}
	dbURL, err := withDatabase(s.AdminURL, name)
	if err != nil {
		return "", nil, err
	}
	drop := func(ctx context.Context) error {
		conn, err := pgx.Connect(ctx, s.AdminURL)
		if err != nil {
			return err
		}
		defer conn.Close(ctx)
		_, err = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)")
		return err
	}
	return dbURL, drop, nil
}

// withDatabase replaces the database of a postgres:// URL.
func withDatabase(raw, db string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("parsing database URL: %w", err)
	}
	u.Path = "/" + db
	return u.String(), nil
}
