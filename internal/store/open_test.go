package store

import (
	"context"
	"strings"
	"testing"
)

// The pool's size is --database-max-conns when given, else the URL's pool_max_conns, else
// pgxpool's default.
func TestOpenPoolSize(t *testing.T) {
	url := testStore.Pool().Config().ConnString()
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	for _, tc := range []struct {
		name string
		url  string
		opt  int32
		want int32
	}{
		{"the flag", url, 7, 7},
		{"pool_max_conns in the URL", url + sep + "pool_max_conns=5", 0, 5},
		{"the flag over the URL", url + sep + "pool_max_conns=5", 9, 9},
		{"pgxpool's default", url, 0, testStore.Pool().Config().MaxConns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st, err := Open(context.Background(), tc.url, MaxConns(tc.opt))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if got := st.Pool().Config().MaxConns; got != tc.want {
				t.Errorf("pool of %d connections, want %d", got, tc.want)
			}
		})
	}
}
