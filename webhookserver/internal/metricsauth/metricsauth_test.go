package metricsauth

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	if env, err = testenv.StartWith(testenv.Options{APIOnly: true}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// The metrics listener's guard against a real apiserver: no token and an unknown token
// are 401, the token of a ServiceAccount that may not get /metrics is 403 (naming it and
// the ClusterRole to bind), the token of one bound to config/rbac's aias-metrics-reader
// ClusterRole is served, and only the URL it may get.
func TestGuardReviewsTokens(t *testing.T) {
	ctx := context.Background()
	cs, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	var reader rbacv1.ClusterRole
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "config", "rbac", "metrics_reader_role.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, &reader); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, &reader, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	token := func(name string) string {
		t.Helper()
		token, err := fixtures.ServiceAccountToken(ctx, env, "default", name)
		if err != nil {
			t.Fatal(err)
		}
		return token
	}
	scraper, stranger := token("scraper"), token("stranger")
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "scraper"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: reader.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "scraper", Namespace: "default"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	g, err := New(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g.Handler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) })))
	defer srv.Close()
	for _, tc := range []struct {
		name, token, path string
		status            int
		reason, mentions  string
	}{
		{"no token", "", "/metrics", http.StatusUnauthorized, ReasonUnauthorized, "bearer token"},
		{"unknown token", "not-a-token", "/metrics", http.StatusUnauthorized, ReasonUnauthorized, "not valid"},
		{"not allowed", stranger, "/metrics", http.StatusForbidden, ReasonForbidden, "system:serviceaccount:default:stranger may not get /metrics"},
		{"allowed", scraper, "/metrics", http.StatusOK, "", ""},
		{"allowed again (cached)", scraper, "/metrics", http.StatusOK, "", ""},
		{"another URL", scraper, "/debug/pprof", http.StatusForbidden, ReasonForbidden, "may not get /debug/pprof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusOK {
				return
			}
			var out struct{ Error, Reason string }
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
			if out.Reason != tc.reason || !strings.Contains(out.Error, tc.mentions) {
				t.Errorf("answer %+v, want reason %s mentioning %q", out, tc.reason, tc.mentions)
			}
		})
	}
}
