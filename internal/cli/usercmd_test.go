package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aias-dev/aias/internal/apiclient"
)

func TestParseArgsInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	ns := fs.String("n", "", "")
	follow := fs.Bool("f", false, "")
	pos, err := parseArgs(fs, []string{"my-run", "-f", "-n", "acme", "extra", "--", "-not-a-flag"})
	if err != nil {
		t.Fatal(err)
	}
	if *ns != "acme" || !*follow || fmt.Sprint(pos) != "[my-run extra -not-a-flag]" {
		t.Errorf("ns %q follow %v pos %q", *ns, *follow, pos)
	}
	if _, err := parseArgs(fs, []string{"--nope"}); err == nil {
		t.Error("unknown flag accepted")
	} else if _, ok := err.(usageError); !ok {
		t.Errorf("err = %T, want usageError", err)
	}
}

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 7, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"1h":                   now.Add(-time.Hour),
		"90m":                  now.Add(-90 * time.Minute),
		"7d":                   now.Add(-7 * 24 * time.Hour),
		"2026-06-30T00:00:00Z": time.Date(2026, 6, 30, 0, 0, 0, 0, time.UTC),
	} {
		got, err := parseSince(in, now)
		if err != nil || !got.Equal(want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"yesterday", "-1h", "1.5d", "d"} {
		if _, err := parseSince(bad, now); err == nil {
			t.Errorf("parseSince(%q) accepted", bad)
		}
	}
}

// The token and namespace come from the kubeconfig when neither flag nor env gives them;
// a flag always wins.
func TestConnectFallsBackToKubeconfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	kubeconfig := filepath.Join(dir, "config")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
current-context: ci
contexts:
- name: ci
  context: {cluster: c, user: ci, namespace: acme}
- name: other
  context: {cluster: c, user: certs}
- name: cloud
  context: {cluster: c, user: exec}
clusters:
- name: c
  cluster: {server: https://127.0.0.1:6443}
users:
- name: ci
  user: {tokenFile: token}
- name: certs
  user: {client-certificate-data: AA==}
- name: exec
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1
      command: ./cred-plugin
      interactiveMode: Never
`), 0o600); err != nil {
		t.Fatal(err)
	}
	// A credential plugin as EKS, GKE and AKS kubeconfigs use: it prints an ExecCredential.
	plugin := "#!/bin/sh\necho '{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"exec-token\"}}'\n"
	if err := os.WriteFile(filepath.Join(dir, "cred-plugin"), []byte(plugin), 0o755); err != nil {
		t.Fatal(err)
	}
	var seen string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Get("Authorization") + " " + r.URL.Path
		fmt.Fprint(w, `{"user":"x"}`)
	}))
	defer srv.Close()
	t.Setenv("AIAS_SERVER", srv.URL)
	t.Setenv("AIAS_USER_TOKEN", "")
	t.Setenv("KUBECONFIG", kubeconfig)
	t.Setenv("AIAS_API_URL", "") // the deprecated names, as a step pod has them
	t.Setenv("AIAS_TOKEN", "")

	check := func(f connFlags, wantNS, wantAuth string) {
		t.Helper()
		c, ns, err := f.connect()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.WhoAmI(context.Background()); err != nil {
			t.Fatal(err)
		}
		if ns != wantNS || seen != wantAuth+" /api/v1/whoami" {
			t.Errorf("namespace %q, request %q; want %q, %q", ns, seen, wantNS, wantAuth)
		}
	}
	check(connFlags{}, "acme", "Bearer file-token")                        // tokenFile relative to the kubeconfig
	check(connFlags{namespace: "b", token: "flag"}, "b", "Bearer flag")    // flags win
	check(connFlags{kubeContext: "cloud"}, "default", "Bearer exec-token") // the context's credential plugin
	t.Setenv("AIAS_USER_TOKEN", "env")
	check(connFlags{}, "acme", "Bearer env")

	t.Setenv("AIAS_USER_TOKEN", "")
	if _, _, err := (&connFlags{kubeContext: "other"}).connect(); err == nil || !strings.Contains(err.Error(), "--token or set AIAS_USER_TOKEN") {
		t.Errorf("a context without a token: %v", err)
	}
	t.Setenv("AIAS_SERVER", "")
	if _, _, err := (&connFlags{token: "x"}).connect(); err == nil || !strings.Contains(err.Error(), "--server <url> or set AIAS_SERVER") {
		t.Errorf("no server: %v", err)
	}
	t.Setenv("KUBECONFIG", filepath.Join(dir, "none"))
	if _, ns, err := (&connFlags{server: srv.URL, token: "x"}).connect(); err != nil || ns != "default" {
		t.Errorf("no kubeconfig: namespace %q, %v", ns, err)
	}
}

// artifacts get refuses bytes that do not hash to the ETag, and leaves no file behind.
func TestArtifactGetVerifiesDigest(t *testing.T) {
	content := "{\"ok\":true}\n"
	good, _, _ := hashCopy(io.Discard, strings.NewReader(content))
	etag := `"` + good + `"`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/acme/runs/r1/artifacts/parse/result" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("ETag", etag)
		fmt.Fprint(w, content)
	}))
	defer srv.Close()
	t.Setenv("AIAS_SERVER", srv.URL)
	t.Setenv("AIAS_USER_TOKEN", "t")
	dir := t.TempDir()

	out := filepath.Join(dir, "result.json")
	if err := getArtifact(context.Background(), []string{"r1", "parse/result", "-n", "acme", "-o", out}); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(out); string(b) != content {
		t.Errorf("file = %q", b)
	}

	etag = `"sha256:0000000000000000000000000000000000000000000000000000000000000000"`
	bad := filepath.Join(dir, "bad.json")
	err := getArtifact(context.Background(), []string{"r1", "parse/result", "-n", "acme", "-o", bad})
	if err == nil || !strings.Contains(err.Error(), "DIGEST MISMATCH") {
		t.Fatalf("err = %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}

	err = getArtifact(context.Background(), []string{"r1", "parse/missing", "-n", "acme"})
	if !apiclient.IsStatus(err, http.StatusNotFound) {
		t.Errorf("missing artifact: %v", err)
	}
}

// `aias logs <run> --step square.3` asks for a forEach item's lines by the name its
// attempts go by, and prefixes them with it.
func TestLogsOfAnItem(t *testing.T) {
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/namespaces/acme/runs/fan/logs" {
			http.NotFound(w, r)
			return
		}
		queries = append(queries, r.URL.RawQuery)
		if r.URL.Query().Get("cursor") != "" {
			fmt.Fprint(w, `{"items":[],"cursor":"c1","finished":true}`)
			return
		}
		fmt.Fprint(w, `{"items":[{"step":"square.3","attempt":1,"stream":"stdout","seq":1,"line":"9"},`+
			`{"step":"square.3","attempt":2,"stream":"stderr","seq":1,"line":"oops"}],"cursor":"c1","finished":true}`)
	}))
	defer srv.Close()
	t.Setenv("AIAS_SERVER", srv.URL)
	t.Setenv("AIAS_USER_TOKEN", "t")
	var out strings.Builder
	if err := printLogs(context.Background(), []string{"fan", "--step", "square.3", "-n", "acme"}, &out); err != nil {
		t.Fatal(err)
	}
	if len(queries) == 0 || queries[0] != "step=square.3" {
		t.Errorf("queries %q, want step=square.3 first", queries)
	}
	if want := "[square.3] 9\n[square.3#2 stderr] oops\n"; out.String() != want {
		t.Errorf("printed %q, want %q", out.String(), want)
	}
}
