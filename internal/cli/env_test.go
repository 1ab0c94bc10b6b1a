package cli

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The CLI's old variable names still work, with one warning each on stderr; the new
// names win over them and say nothing.
func TestConnectReadsDeprecatedEnvWithWarning(t *testing.T) {
	var seen string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get("Authorization")
		_, _ = w.Write([]byte(`{"user":"x"}`))
	}))
	defer srv.Close()
	var warnings strings.Builder
	stderr := deprecationWarnings
	deprecationWarnings = &warnings
	t.Cleanup(func() { deprecationWarnings = stderr })
	warnedOnce.Clear()
	t.Cleanup(warnedOnce.Clear)

	whoami := func() {
		t.Helper()
		c, _, err := (&connFlags{namespace: "acme"}).connect()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WhoAmI(context.Background()); err != nil {
			t.Fatal(err)
		}
	}

	t.Setenv("AIAS_SERVER", "")
	t.Setenv("AIAS_USER_TOKEN", "")
	t.Setenv("AIAS_API_URL", srv.URL)
	t.Setenv("AIAS_TOKEN", "old")
	whoami()
	whoami()
	if seen != "Bearer old" {
		t.Errorf("token %q, want the deprecated AIAS_TOKEN's", seen)
	}
	for _, want := range []string{
		"Warning: AIAS_API_URL is deprecated for the aias CLI, set AIAS_SERVER instead\n",
		"Warning: AIAS_TOKEN is deprecated for the aias CLI, set AIAS_USER_TOKEN instead\n",
	} {
		if n := strings.Count(warnings.String(), want); n != 1 {
			t.Errorf("warning %q printed %d times, want once; stderr:\n%s", want, n, warnings.String())
		}
	}

	warnedOnce.Clear()
	warnings.Reset()
	t.Setenv("AIAS_SERVER", srv.URL)
	t.Setenv("AIAS_USER_TOKEN", "new")
	t.Setenv("AIAS_API_URL", "http://127.0.0.1:1") // a step pod's internal step API: not used
	whoami()
	if seen != "Bearer new" || warnings.Len() != 0 {
		t.Errorf("token %q, warnings %q; want the new names and no warning", seen, warnings.String())
	}
}
