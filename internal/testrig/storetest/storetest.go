// Package storetest gives a test package a migrated store on its own database.
package storetest

import (
	"context"

	"github.com/aias-dev/aias/internal/postgres"
	"github.com/aias-dev/aias/internal/store"
)

// Open creates a database named after prefix (see postgres.ForTests), migrates it and
// opens a store on it. cleanup closes the store and drops the database.
func Open(ctx context.Context, prefix string) (*store.Store, func(), error) {
	url, dropDB, err := postgres.ForTests(ctx, prefix)
	if err != nil {
		return nil, nil, err
	}
	st, err := store.Open(ctx, url)
	if err != nil {
		dropDB()
		return nil, nil, err
	}
	return st, func() { st.Close(); dropDB() }, nil
}
