package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
	"github.com/aias-dev/aias/webhookserver"
)

// userEnv is a running user listener on the package's control plane and database.
type userEnv struct {
	t   *testing.T
	ctx context.Context
	url string
	c   client.Client
}

// The package shares one control plane (the user listener reviews tokens and access,
// reads Runs, Workflows and Tenants) and one database.
var (
	testEnv   *testenv.Env
	testStore *store.Store
)

func TestMain(m *testing.M) { fixtures.Main(m, "aias_console_test", &testEnv, &testStore) }

func newUserEnv(t *testing.T) *userEnv {
	t.Helper()
	return newUserEnvWith(t, func(o *webhookserver.Options) { o.PublicBaseURL = "https://hooks.example.com" })
}

// newUserEnvWith is newUserEnv with options of the test's own.
func newUserEnvWith(t *testing.T, set func(*webhookserver.Options)) *userEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	keyFile := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(keyFile, bytes.Repeat([]byte("k"), 32), 0o600); err != nil {
		t.Fatal(err)
	}
	o := webhookserver.Options{PublicAddr: "0", UserAddr: "127.0.0.1:0", InternalAddr: "0", MetricsAddr: "0",
		DatabaseURL: testStore.Pool().Config().ConnString(), StepTokenKeyFile: keyFile, RestConfig: testEnv.Config}
	set(&o)
	addrs, wait, err := webhookserver.Start(ctx, o)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = wait() })
	if _, err := fixtures.ApplyTenantRoles(ctx, testEnv); err != nil {
		t.Fatal(err)
	}
	return &userEnv{t: t, ctx: ctx, c: testEnv.Client, url: "http://" + addrs.User}
}

// unlimitedPlan is the Plan of the tests' Tenants: no limits (a Tenant whose plan does
// not exist may do nothing at all).
const unlimitedPlan = "console-unlimited"

// namespace creates a namespace with a Tenant of the same name, on unlimitedPlan.
func (e *userEnv) namespace(name string) {
	e.t.Helper()
	if err := e.c.Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
	plan := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: unlimitedPlan}}
	if err := e.c.Create(e.ctx, plan); err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
	if err := e.c.Create(e.ctx, &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: aiasv1alpha1.TenantSpec{Plan: unlimitedPlan}}); err != nil && !apierrors.IsAlreadyExists(err) {
		e.t.Fatal(err)
	}
}

// member creates ServiceAccount ns/name bound to the aias role, and returns a token for it.
func (e *userEnv) member(ns, name, role string) string {
	e.t.Helper()
	token, err := fixtures.Member(e.ctx, testEnv, ns, name, role)
	if err != nil {
		e.t.Fatal(err)
	}
	return token
}

// seedRun creates a Run of a 2-step workflow (a → b) and records it as the Run
// controller would: frozen spec, status, index row, a JSON result per step and a log line.
func (e *userEnv) seedRun(ns, name string, phase aiasv1alpha1.RunPhase, results ...string) *aiasv1alpha1.Run {
	e.t.Helper()
	spec := aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{
		{Name: "a", Image: "busybox", Command: []string{"sh"}}, {Name: "b", Image: "busybox", Command: []string{"sh"}}}}
	raw, _ := json.Marshal(spec)
	specDigest, err := testStore.PutWorkflowSpec(e.ctx, raw)
	if err != nil {
		e.t.Fatal(err)
	}
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}, Input: ptr.To(`{"n":1}`)}}
	if err := e.c.Create(e.ctx, run); err != nil {
		e.t.Fatal(err)
	}
	now := metav1.Now()
	run.Status = aiasv1alpha1.RunStatus{Phase: phase, SpecDigest: specDigest, StartTime: &now}
	if phase.Finished() {
		run.Status.CompletionTime = &now
	}
	for i, s := range []string{"a", "b"} {
		st := aiasv1alpha1.StepStatus{Name: s, Phase: aiasv1alpha1.StepRunning, Attempts: 1}
		if i < len(results) {
			a, err := testStore.PutArtifact(e.ctx, store.ArtifactKey{Namespace: ns, RunName: name, RunUID: string(run.UID), Step: s, Attempt: 1, Name: "result"},
				"application/json", strings.NewReader(results[i]), 0, "")
			if err != nil {
				e.t.Fatal(err)
			}
			st.Phase, st.OutputDigest, st.ExitCode = aiasv1alpha1.StepSucceeded, a.Digest, ptr.To[int32](0)
		}
		run.Status.Steps = append(run.Status.Steps, st)
	}
	if err := e.c.Status().Update(e.ctx, run); err != nil {
		e.t.Fatal(err)
	}
	rec := store.RunRecord{UID: string(run.UID), Namespace: ns, Name: name, Workflow: "wf", Phase: string(phase), Trigger: "Manual",
		CreatedAt: run.CreationTimestamp.Time, StartedAt: &now.Time}
	if phase.Finished() {
		rec.FinishedAt = &now.Time
	}
	if err := testStore.UpsertRun(e.ctx, rec); err != nil {
		e.t.Fatal(err)
	}
	return run
}

// do sends a request with a bearer token ("" for none) and returns the response.
func (e *userEnv) do(method, path, token string, body []byte, header ...string) *http.Response {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(e.ctx, method, e.url+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// uniqueNS is a namespace name unique to this test run.
func uniqueNS(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000_000)
}
