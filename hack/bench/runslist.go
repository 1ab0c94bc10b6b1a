package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	crclient "sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/userapi"
	"github.com/aias-dev/aias/webhookserver"
	"github.com/aias-dev/aias/webhookserver/console"
)

// Runs list and run detail (issue 7): the first page of the user API's runs list with
// 100,000 runs in the run index, beside the same page made the way dashboards that list
// the apiserver make it (list every Run of the namespace, sort newest first, cut a page)
// with 10,000 Runs, on the same control plane; and the run detail.
const (
	listIndexRuns = 100_000
	listAPIRuns   = 10_000
	listPage      = 50
	listSamples   = 500 // requests per API figure
	apiSamples    = 30  // full apiserver lists (each moves every Run)
	detailRuns    = 500 // Runs given a status and artifacts for the detail figure
	listNamespace = "bench-ui"
)

func listSection(ctx context.Context, st *store.Store) (string, error) {
	env, err := testenv.Start()
	if err != nil {
		return "", err
	}
	defer func() { _ = env.Stop() }()
	cl, err := newCluster(env)
	if err != nil {
		return "", err
	}
	c := cl.c
	base, token, stop, err := startUserAPI(ctx, env, c, st)
	if err != nil {
		return "", err
	}
	defer stop()

	logf("runs list: %d index rows, %d Run objects", listIndexRuns, listAPIRuns)
	if err := seedIndex(ctx, st); err != nil {
		return "", err
	}
	names, err := seedRuns(ctx, c, st)
	if err != nil {
		return "", err
	}

	first := func(query string) func() error {
		return func() error {
			return getJSON(base+userapi.RunsPath(listNamespace)+"?limit=50"+query, token, nil)
		}
	}
	firstPage, err := latencies(listSamples, first(""))
	if err != nil {
		return "", err
	}
	filtered, err := latencies(listSamples, first("&phase=Failed&workflow=wf-7"))
	if err != nil {
		return "", err
	}
	// A page deep in the history: the keyset makes it cost what the first does.
	var deepToken string
	for range 200 {
		var page userapi.RunList
		if err := getJSON(base+userapi.RunsPath(listNamespace)+"?limit=50&continue="+deepToken, token, &page); err != nil {
			return "", err
		}
		deepToken = page.Continue
	}
	deep, err := latencies(listSamples, first("&continue="+deepToken))
	if err != nil {
		return "", err
	}
	rng := rand.New(rand.NewPCG(7, 7))
	detail, err := latencies(listSamples, func() error {
		return getJSON(base+userapi.RunPath(listNamespace, names[rng.IntN(len(names))]), token, nil)
	})
	if err != nil {
		return "", err
	}
	apiList, err := latencies(apiSamples, func() error {
		var runs aiasv1alpha1.RunList
		if err := c.List(ctx, &runs, crclient.InNamespace(listNamespace)); err != nil {
			return err
		}
		sort.Slice(runs.Items, func(i, j int) bool {
			return runs.Items[j].CreationTimestamp.Before(&runs.Items[i].CreationTimestamp)
		})
		if len(runs.Items) != listAPIRuns {
			return fmt.Errorf("apiserver listed %d Runs, want %d", len(runs.Items), listAPIRuns)
		}
		return nil
	})
	if err != nil {
		return "", err
	}

	var b strings.Builder
	b.WriteString("## Runs list and run detail (issue 7)\n\n| what | AIAS user API | apiserver list | ratio |\n| --- | --- | --- | --- |\n")
	fmt.Fprintf(&b, "| first page (%d runs) of %s runs in the index, %d requests | p50 %.1f ms, p99 %.1f ms (goal p99 < 100 ms) | p50 %.0f ms, p99 %.0f ms: list all %s Runs, sort, cut (%d lists) | **%.0f×** faster at p50 |\n",
		listPage, thousands(listIndexRuns), listSamples, ms(firstPage.p50), ms(firstPage.p99), ms(apiList.p50), ms(apiList.p99), thousands(listAPIRuns), apiSamples, float64(apiList.p50)/float64(firstPage.p50))
	fmt.Fprintf(&b, "| first page filtered by phase and workflow | p50 %.1f ms, p99 %.1f ms | — | — |\n", ms(filtered.p50), ms(filtered.p99))
	fmt.Fprintf(&b, "| page 201 (after 10,000 newer runs, by continue token) | p50 %.1f ms, p99 %.1f ms | — | — |\n", ms(deep.p50), ms(deep.p99))
	fmt.Fprintf(&b, "| run detail (Run GET, frozen spec, 3 steps, 3 artifacts), %d requests | p50 %.1f ms, p99 %.1f ms | — | — |\n", listSamples, ms(detail.p50), ms(detail.p99))
	b.WriteString("\nEvery API request carries a ServiceAccount token and passes TokenReview and SubjectAccessReview (cached for seconds, as in production). The index pages by a keyset on (created_at, uid), so a page costs one index range scan at any depth; the apiserver has no order but name, so a newest-first page needs every Run of the namespace.\n")
	return b.String(), nil
}

type percentiles struct{ p50, p99 time.Duration }

// latencies runs f n times one after another and returns p50 and p99.
func latencies(n int, f func() error) (percentiles, error) {
	lat := make([]time.Duration, n)
	for i := range lat {
		t0 := time.Now()
		if err := f(); err != nil {
			return percentiles{}, err
		}
		lat[i] = time.Since(t0)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	return percentiles{p50: lat[n/2], p99: lat[min(n-1, n*99/100)]}, nil
}

func getJSON(url, token string, into any) error {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d", url, resp.StatusCode)
	}
	if into == nil {
		into = &json.RawMessage{}
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

func thousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// startUserAPI serves the user listener and returns its URL and a viewer's token.
func startUserAPI(ctx context.Context, env *testenv.Env, c crclient.Client, st *store.Store) (string, string, func(), error) {
	// The bench's one user asks far faster than a user's request budget allows: what is
	// measured is the route, not the budget (internal/testsuite/noisy measures that).
	addrs, stop, err := serveWebhookServer(ctx, env, st, webhookserver.Options{UserAddr: "127.0.0.1:0",
		UserRequests: console.RequestLimits{PerSecond: 1e6, Burst: 1 << 20}})
	if err != nil {
		return "", "", nil, err
	}
	base := "http://" + addrs.User

	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: listNamespace}}); err != nil {
		stop()
		return "", "", nil, err
	}
	// A viewer, as a tenant member is: read runs, logs and artifacts in the namespace.
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "bench-viewer"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{"aias.dev"}, Resources: []string{"runs", "runs/logs", "runs/artifacts"}, Verbs: []string{"get", "list"}}}}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "viewer", Namespace: listNamespace}}
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "viewer", Namespace: listNamespace},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa.Name, Namespace: listNamespace}}}
	for _, o := range []crclient.Object{role, sa, rb} {
		if err := c.Create(ctx, o); err != nil {
			stop()
			return "", "", nil, err
		}
	}
	tr, err := kubernetes.NewForConfigOrDie(env.Config).CoreV1().ServiceAccounts(listNamespace).CreateToken(ctx, sa.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptrInt64(3600)}}, metav1.CreateOptions{})
	if err != nil {
		stop()
		return "", "", nil, err
	}
	// RBAC takes a moment to reach the authorizer.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		err := getJSON(base+userapi.RunsPath(listNamespace)+"?limit=1", tr.Status.Token, nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			stop()
			return "", "", nil, err
		}
	}
	return base, tr.Status.Token, stop, nil
}

// seedIndex writes the run index rows with COPY: a year of runs over 20 workflows.
func seedIndex(ctx context.Context, st *store.Store) error {
	rng := rand.New(rand.NewPCG(1, 1))
	phases := []string{"Succeeded", "Succeeded", "Succeeded", "Failed", "Canceled", "Running"}
	start := time.Now().Add(-365 * 24 * time.Hour)
	step := 365 * 24 * time.Hour / listIndexRuns
	_, err := st.Pool().CopyFrom(ctx, pgx.Identifier{"run_index"},
		[]string{"uid", "namespace", "name", "workflow", "phase", "trigger", "endpoint", "input_digest", "created_at", "started_at", "finished_at"},
		pgx.CopyFromSlice(listIndexRuns, func(i int) ([]any, error) {
			created := start.Add(time.Duration(i) * step)
			started, finished := created.Add(time.Second), created.Add(time.Duration(5+rng.IntN(60))*time.Second)
			return []any{uuid.NewString(), listNamespace, fmt.Sprintf("hist-%06d", i), fmt.Sprintf("wf-%d", rng.IntN(20)),
				phases[rng.IntN(len(phases))], "Webhook", "github", "", created, started, finished}, nil
		}))
	if err != nil {
		return err
	}
	_, err = st.Pool().Exec(ctx, "analyze run_index")
	return err
}

// seedRuns creates the Run objects the apiserver lists; detailRuns of them get a status
// with three steps, a frozen spec, artifacts and index rows, as a finished Run has.
func seedRuns(ctx context.Context, c crclient.Client, st *store.Store) ([]string, error) {
	input := `{"ref":"refs/heads/main"}`
	err := parallel(listAPIRuns, 16, func(i int) error {
		return c.Create(ctx, &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("live-%05d", i), Namespace: listNamespace},
			Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf-1"}, Input: &input}})
	})
	if err != nil {
		return nil, err
	}
	spec := aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{
		{Name: "fetch", Image: "debian", Command: []string{"sh"}}, {Name: "build", Image: "debian", Command: []string{"sh"}},
		{Name: "notify", Image: "debian", Command: []string{"sh"}}}}
	raw, _ := json.Marshal(spec)
	specDigest, err := st.PutWorkflowSpec(ctx, raw)
	if err != nil {
		return nil, err
	}
	names := make([]string, detailRuns)
	err = parallel(detailRuns, 16, func(i int) error {
		run := &aiasv1alpha1.Run{}
		names[i] = fmt.Sprintf("live-%05d", i*listAPIRuns/detailRuns)
		if err := c.Get(ctx, crclient.ObjectKey{Namespace: listNamespace, Name: names[i]}, run); err != nil {
			return err
		}
		now := metav1.Now()
		run.Status = aiasv1alpha1.RunStatus{Phase: aiasv1alpha1.RunSucceeded, SpecDigest: specDigest, StartTime: &now, CompletionTime: &now}
		for _, s := range spec.Steps {
			a, err := st.PutArtifact(ctx, store.ArtifactKey{Namespace: listNamespace, RunName: run.Name, RunUID: string(run.UID), Step: s.Name, Attempt: 1, Name: "result"},
				"application/json", strings.NewReader(fmt.Sprintf(`{"step":%q,"run":%d}`, s.Name, i)), 0, "")
			if err != nil {
				return err
			}
			run.Status.Steps = append(run.Status.Steps, aiasv1alpha1.StepStatus{Name: s.Name, Phase: aiasv1alpha1.StepSucceeded, Attempts: 1,
				StartTime: &now, CompletionTime: &now, OutputDigest: a.Digest})
		}
		if err := c.Status().Update(ctx, run); err != nil {
			return err
		}
		return st.UpsertRun(ctx, store.RunRecord{UID: string(run.UID), Namespace: listNamespace, Name: run.Name, Workflow: "wf-1",
			Phase: "Succeeded", Trigger: "Manual", CreatedAt: run.CreationTimestamp.Time, StartedAt: &now.Time, FinishedAt: &now.Time})
	})
	return names, err
}
