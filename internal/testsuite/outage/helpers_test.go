package outage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/apiclient"
	"github.com/aias-dev/aias/internal/signature"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
	"github.com/aias-dev/aias/webhookserver/hooks"
)

// envSeconds reads a duration in seconds from the environment, else def.
func envSeconds(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 {
		t.Fatalf("%s=%q: want a number of seconds", name, v)
	}
	return time.Duration(f * float64(time.Second))
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive number", name, v)
	}
	return n
}

// The step every Run of these tests runs: it records the size of its input, prints
// the number of stdout and stderr lines the input asks for, 0.1 s apart, then writes a
// file. Everything it produces is known from the input, so a test can tell whether a
// single line or byte went missing or was stored twice. After line "gate" (0: none) it
// waits, up to 2 minutes, for the file $GATE_FILE: a test opens the gate when every
// Run is mid-step, just before the outage, however long the Pods took to start on a
// busy machine, and their remaining lines are all printed while the outage lasts.
const (
	stepName   = "emit"
	emitScript = `wc -c < "$AIAS_INPUT" | tr -d ' ' > "$AIAS_OUTPUT_DIR/input-bytes.txt"
n=$(sed -n 's/^{"lines":\([0-9]*\).*/\1/p' "$AIAS_INPUT")
g=$(sed -n 's/^{"lines":[0-9]*,"gate":\([0-9]*\).*/\1/p' "$AIAS_INPUT")
i=1
while [ "$i" -le "$n" ]; do
  echo "line $i"; echo "err $i" >&2
  if [ "$i" = "$g" ]; then w=0; while [ ! -e "$GATE_FILE" ] && [ "$w" -lt 600 ]; do sleep 0.2; w=$((w+1)); done; fi
  i=$((i+1)); sleep 0.1
done
echo done > "$AIAS_OUTPUT_DIR/out.txt"`
)

// delivery is one webhook delivery: its id and payload, and what its Run must show.
type delivery struct {
	id    string
	body  []byte
	lines int
	gate  int // the line after which the step waits for the gate (0: none)
	// manual: not a delivery but a Run created with the Kubernetes API, named id.
	manual bool
}

// newDelivery makes a payload asking for lines lines and a wait for the gate after line
// gate (0: none); large pads it past the inline limit, so the hook listener stores it in
// PostgreSQL and the Run references it.
func newDelivery(id string, lines, gate int, large bool) delivery {
	pad := ""
	if large {
		pad = strings.Repeat("x", aiasv1alpha1.MaxInlineInputLength+1000)
	}
	body := fmt.Sprintf(`{"lines":%d,"gate":%d,"id":%q,"pad":%q}`, lines, gate, id, pad)
	return delivery{id: id, body: []byte(body), lines: lines, gate: gate}
}

func (d delivery) large() bool { return len(d.body) > aiasv1alpha1.MaxInlineInputLength }

// tenant is a namespace with the emit Workflow, a WebhookEndpoint on it whose signing
// Secret the test holds, and a ServiceAccount token that may read its Runs through the
// user API.
type tenant struct {
	t      *testing.T
	ctx    context.Context
	ns     string
	ep     *aiasv1alpha1.WebhookEndpoint
	secret string
	users  []*apiclient.Client // one per replica
	gate   string              // the file the steps wait for (see emitScript)
}

func newTenant(t *testing.T, prefix string) *tenant {
	t.Helper()
	s := stk
	ctx := context.Background()
	c := s.env.Client
	tn := &tenant{t: t, ctx: ctx, ns: fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1_000_000)}
	tn.gate = filepath.Join(s.dir, "gate-"+tn.ns) // s.dir is searchable by the steps' user
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	tn.secret = "whsec_" + base64.StdEncoding.EncodeToString(raw)
	mustCreate := func(o client.Object) {
		t.Helper()
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
		}
	}
	mustCreate(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tn.ns}})
	mustCreate(&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "hook-key", Namespace: tn.ns},
		Data: map[string][]byte{signature.SecretKey: []byte(tn.secret)}})
	mustCreate(&aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Name: "emit", Namespace: tn.ns},
		Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{
			Name: stepName, Image: "busybox:1.37", Command: []string{"sh", "-c", emitScript},
			Env:     []corev1.EnvVar{{Name: "GATE_FILE", Value: tn.gate}},
			Timeout: &metav1.Duration{Duration: 10 * time.Minute},
		}}}})
	tn.ep = &aiasv1alpha1.WebhookEndpoint{ObjectMeta: metav1.ObjectMeta{Name: "hook", Namespace: tn.ns},
		Spec: aiasv1alpha1.WebhookEndpointSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "emit"},
			Verification: aiasv1alpha1.Verification{Scheme: aiasv1alpha1.SchemeStandardWebhooks,
				SecretRef: &aiasv1alpha1.SecretReference{Name: "hook-key"}}}}
	mustCreate(tn.ep)

	// A reader of the namespace's Runs, their logs and artifacts, for the user API.
	token, err := fixtures.RunReader(ctx, s.env, tn.ns)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range s.replicas {
		uc, err := apiclient.New(r.user, token, &http.Client{Timeout: 30 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		tn.users = append(tn.users, uc)
	}

	// Both replicas read endpoints and Secrets from informers: wait until a signed probe
	// verifies on each and is refused for its Content-Type (400); before, it is 401
	// Unverified like every delivery that does not verify. After TestAPIServerRestart a
	// replica's informers may still be backing off: client-go's reflector retries a broken
	// watch at an interval that grows to [30, 60) s while the apiserver is down (see
	// k8s.io/client-go/tools/cache/reflector.go), so a new endpoint can take up to a
	// minute to reach a replica; the wait allows for it and says how long it took.
	for _, r := range s.replicas {
		began := time.Now()
		deadline := began.Add(90 * time.Second)
		for {
			probe, err := signature.Sign(signature.Config{Scheme: signature.StandardWebhooks},
				signature.Key{Name: signature.SecretKey, Value: []byte(tn.secret)}, fmt.Sprintf("probe-%d", time.Now().UnixNano()), []byte("{}"), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			probe.Set("Content-Type", "not a type")
			a := tn.post(r, probe, []byte("{}"))
			if a.code == http.StatusBadRequest {
				if took := time.Since(began); took > 5*time.Second {
					t.Logf("%s learnt endpoint %s/hook after %s", r.name, tn.ns, took.Round(100*time.Millisecond))
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s does not know endpoint %s/hook after 90 s: %+v", r.name, tn.ns, a)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return tn
}

// answer is the hook listener's reply to one delivery.
type answer struct {
	code       int
	status     string // "created" or "duplicate" (2xx)
	run        string
	reason     string // the error's reason otherwise
	retryAfter string
	took       time.Duration
	err        error // the request failed
}

func (a answer) String() string {
	if a.err != nil {
		return "error: " + a.err.Error()
	}
	return fmt.Sprintf("%d %s%s (Retry-After %q, %s)", a.code, a.status, a.reason, a.retryAfter, a.took.Round(time.Millisecond))
}

var hookClient = &http.Client{Timeout: 60 * time.Second}

// deliver signs d afresh (a sender re-signs each attempt) and posts it to r.
func (tn *tenant) deliver(r replica, d delivery) answer {
	h, err := signature.Sign(signature.Config{Scheme: signature.StandardWebhooks},
		signature.Key{Name: signature.SecretKey, Value: []byte(tn.secret)}, d.id, d.body, time.Now())
	if err != nil {
		return answer{err: err}
	}
	h.Set("Content-Type", "application/json")
	return tn.post(r, h, d.body)
}

func (tn *tenant) post(r replica, h http.Header, body []byte) answer {
	req, err := http.NewRequestWithContext(tn.ctx, http.MethodPost, r.public+"/hooks/"+tn.ns+"/hook", bytes.NewReader(body))
	if err != nil {
		return answer{err: err}
	}
	for k, v := range h {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := hookClient.Do(req)
	if err != nil {
		return answer{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct{ Status, Run, Reason string }
	_ = json.Unmarshal(raw, &out)
	return answer{code: resp.StatusCode, status: out.Status, run: out.Run, reason: out.Reason,
		retryAfter: resp.Header.Get("Retry-After"), took: time.Since(start)}
}

// deliverAll delivers each of ds once, alternating between the replicas, concurrently.
func (tn *tenant) deliverAll(ds []delivery) []answer {
	out := make([]answer, len(ds))
	var wg sync.WaitGroup
	for i, d := range ds {
		wg.Go(func() { out[i] = tn.deliver(stk.replicas[i%len(stk.replicas)], d) })
	}
	wg.Wait()
	return out
}

// runName is the Run a delivery maps to.
func (tn *tenant) runName(d delivery) string {
	if d.manual {
		return d.id
	}
	return hooks.RunName(tn.ep, d.id)
}

// createRun creates the Run of a manual d with the Kubernetes API, as kubectl would.
func (tn *tenant) createRun(d delivery) error {
	input := string(d.body)
	return stk.env.Client.Create(tn.ctx, &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: d.id, Namespace: tn.ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "emit"}, Input: &input}})
}

func (tn *tenant) runs() map[string]*aiasv1alpha1.Run {
	tn.t.Helper()
	var list aiasv1alpha1.RunList
	if err := stk.env.Client.List(tn.ctx, &list, client.InNamespace(tn.ns)); err != nil {
		tn.t.Fatal(err)
	}
	out := map[string]*aiasv1alpha1.Run{}
	for i := range list.Items {
		out[list.Items[i].Name] = &list.Items[i]
	}
	return out
}

// storedLines counts the stored stdout lines of the emit step of each Run (attempt 1).
func storedLines(ctx context.Context, runs map[string]*aiasv1alpha1.Run) (map[string]int, error) {
	uids := make([]string, 0, len(runs))
	byUID := map[string]string{}
	for name, r := range runs {
		uids = append(uids, string(r.UID))
		byUID[string(r.UID)] = name
	}
	rows, err := stk.store.Pool().Query(ctx, `select run_uid, count(*) from run_logs where run_uid = any($1) and stream = 'stdout' group by run_uid`, uids)
	if err != nil {
		return nil, err
	}
	type row struct {
		UID string
		N   int
	}
	counted, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range counted {
		out[byUID[r.UID]] = r.N
	}
	return out, nil
}

// waitMidStep waits until every Run of ds runs its step and has stored its lines up to
// its gate (at least one), but none has finished the step (no outcome reported yet),
// and returns the Runs.
func (tn *tenant) waitMidStep(ds []delivery, timeout time.Duration) map[string]*aiasv1alpha1.Run {
	tn.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runs := tn.runs()
		mine := map[string]*aiasv1alpha1.Run{}
		for _, d := range ds {
			if r := runs[tn.runName(d)]; r != nil {
				mine[r.Name] = r
			}
		}
		waiting := len(ds) - len(mine)
		if waiting == 0 {
			lines, err := storedLines(tn.ctx, mine)
			if err != nil {
				tn.t.Fatal(err)
			}
			for _, d := range ds {
				r := mine[tn.runName(d)]
				if lines[r.Name] < max(d.gate, 1) || r.Status.Phase != aiasv1alpha1.RunRunning {
					waiting++
				}
			}
			for name, r := range mine {
				_, err := stk.store.StepAttemptOutcome(tn.ctx, string(r.UID), stepName, 1)
				if err == nil {
					tn.t.Fatalf("run %s finished its step before the outage (make its step longer)", name)
				}
			}
			if waiting == 0 {
				return mine
			}
		}
		if time.Now().After(deadline) {
			tn.t.Fatalf("after %s, %d of %d runs are not yet mid-step", timeout, waiting, len(ds))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitSucceeded waits until the Runs of ds have all succeeded and returns them.
func (tn *tenant) waitSucceeded(ds []delivery, timeout time.Duration) map[string]*aiasv1alpha1.Run {
	tn.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runs := tn.runs()
		done := 0
		var pending []string
		for _, d := range ds {
			r := runs[tn.runName(d)]
			switch {
			case r == nil:
				pending = append(pending, d.id+" (no run)")
			case r.Status.Phase == aiasv1alpha1.RunSucceeded:
				done++
			case r.Status.Phase.Finished():
				tn.t.Fatalf("run %s of delivery %s ended %s: %s %s", r.Name, d.id, r.Status.Phase, r.Status.Message, stepSummary(r))
			default:
				pending = append(pending, fmt.Sprintf("%s %s %s", d.id, r.Status.Phase, stepSummary(r)))
			}
		}
		if done == len(ds) {
			return runs
		}
		if time.Now().After(deadline) {
			sort.Strings(pending)
			tn.t.Fatalf("after %s, %d of %d runs have not succeeded: %s", timeout, len(pending), len(ds), strings.Join(pending, "; "))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func stepSummary(r *aiasv1alpha1.Run) string {
	var parts []string
	for _, st := range r.Status.Steps {
		parts = append(parts, fmt.Sprintf("[%s %s attempts=%d %s]", st.Name, st.Phase, st.Attempts, st.Message))
	}
	return strings.Join(parts, " ")
}

// ledgerRow is a delivery's row in the delivery ledger.
type ledgerRow struct{ outcome, run string }

func (tn *tenant) ledger(ds []delivery) map[string]ledgerRow {
	tn.t.Helper()
	ids := make([]string, len(ds))
	for i, d := range ds {
		ids[i] = d.id
	}
	rows, err := stk.store.Pool().Query(tn.ctx, `select delivery_id, outcome, run_name from deliveries where endpoint_uid = $1 and delivery_id = any($2)`, string(tn.ep.UID), ids)
	if err != nil {
		tn.t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]ledgerRow{}
	for rows.Next() {
		var id string
		var r ledgerRow
		if err := rows.Scan(&id, &r.outcome, &r.run); err != nil {
			tn.t.Fatal(err)
		}
		out[id] = r
	}
	if err := rows.Err(); err != nil {
		tn.t.Fatal(err)
	}
	return out
}

// expectedStdout is what the emit step prints on stdout for n lines.
func expectedStdout(n int) []byte {
	var b bytes.Buffer
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	return b.Bytes()
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// counts sums what verifyRuns checked, for the test's report.
type counts struct {
	runs, stdout, stderr, artifacts, apiLines, apiArtifacts, storedInputs int
}

// verifyRuns checks that each delivery of ds has exactly one Run, succeeded at its
// first attempt, with every line its step printed stored exactly once in order, its
// three artifacts stored with the expected content (in the store, in the Run's status
// and through the user API), its delivery recorded as created in the ledger, and its
// payload byte for byte (inline, or stored in PostgreSQL and referenced).
func (tn *tenant) verifyRuns(ds []delivery, runs map[string]*aiasv1alpha1.Run) counts {
	tn.t.Helper()
	t, ctx := tn.t, tn.ctx
	var c counts
	ledger := tn.ledger(ds)
	for i, d := range ds {
		name := tn.runName(d)
		r := runs[name]
		if r == nil {
			t.Errorf("delivery %s: no run %s", d.id, name)
			continue
		}
		c.runs++
		switch {
		case d.manual:
		case r.Spec.Trigger == nil || r.Spec.Trigger.DeliveryID != d.id:
			t.Errorf("run %s: trigger %+v, want delivery %s", name, r.Spec.Trigger, d.id)
		default:
			if row, ok := ledger[d.id]; !ok || row.outcome != store.DeliveryCreated || row.run != name {
				t.Errorf("delivery %s: ledger row %+v (found %v), want outcome created for run %s", d.id, row, ok, name)
			}
		}
		// The payload, byte for byte.
		switch {
		case d.large():
			if r.Spec.InputRef == nil || r.Spec.Input != nil {
				t.Errorf("run %s: large payload not referenced (input %v, inputRef %+v)", name, r.Spec.Input != nil, r.Spec.InputRef)
				break
			}
			got, _, err := stk.store.GetInput(ctx, r.Namespace, r.Spec.InputRef.Digest)
			if err != nil || !bytes.Equal(got, d.body) {
				t.Errorf("run %s: stored payload %d bytes (%v), want %d", name, len(got), err, len(d.body))
			} else {
				c.storedInputs++
			}
		case r.Spec.Input == nil || *r.Spec.Input != string(d.body):
			t.Errorf("run %s: inline input differs from the payload", name)
		}
		if len(r.Status.Steps) != 1 || r.Status.Steps[0].Attempts != 1 {
			t.Errorf("run %s: steps %s, want one attempt", name, stepSummary(r))
		}

		// Every line once, in order, in the store.
		target := store.LogTarget{Namespace: tn.ns, RunUID: string(r.UID), Step: stepName, Attempt: 1}
		for _, stream := range []string{stepjob.StreamStdout, stepjob.StreamStderr} {
			lines, err := stk.store.ReadLogs(ctx, target, stream, 0, d.lines+100)
			if err != nil {
				t.Fatal(err)
			}
			prefix := map[string]string{stepjob.StreamStdout: "line", stepjob.StreamStderr: "err"}[stream]
			if len(lines) != d.lines {
				t.Errorf("run %s: %d %s lines stored, the step printed %d", name, len(lines), stream, d.lines)
			}
			for j, l := range lines {
				if want := fmt.Sprintf("%s %d", prefix, j+1); l.Seq != int64(j+1) || l.Line != want {
					t.Errorf("run %s: %s line %d is seq %d %q, want %q", name, stream, j+1, l.Seq, l.Line, want)
					break
				}
			}
			if stream == stepjob.StreamStdout {
				c.stdout += len(lines)
			} else {
				c.stderr += len(lines)
			}
		}

		// The artifacts, in the store, the Run's status and the user API.
		want := map[string]string{
			stepjob.ResultArtifact: digestOf(expectedStdout(d.lines)),
			"out.txt":              digestOf([]byte("done\n")),
			"input-bytes.txt":      digestOf([]byte(strconv.Itoa(len(d.body)) + "\n")),
		}
		stored, err := stk.store.ListArtifacts(ctx, string(r.UID))
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, a := range stored {
			if a.Step != stepName || a.Attempt != 1 {
				t.Errorf("run %s: artifact %+v of another step or attempt", name, a.ArtifactKey)
			}
			got[a.Name] = a.Digest
		}
		if !sameMap(got, want) {
			t.Errorf("run %s: stored artifacts %v, want %v", name, got, want)
		}
		c.artifacts += len(stored)
		status := map[string]string{}
		for _, a := range r.Status.Artifacts {
			status[a.Name] = a.Digest
		}
		if !sameMap(status, want) || r.Status.ArtifactCount != int32(len(want)) {
			t.Errorf("run %s: status artifacts %v (count %d), want %v", name, status, r.Status.ArtifactCount, want)
		}
		user := tn.users[i%len(tn.users)]
		list, err := user.Artifacts(ctx, tn.ns, name)
		if err != nil {
			t.Errorf("run %s: user API artifacts: %v", name, err)
		} else {
			api := map[string]string{}
			for _, a := range list.Items {
				api[a.Name] = a.Digest
			}
			if !sameMap(api, want) {
				t.Errorf("run %s: user API artifacts %v, want %v", name, api, want)
			}
			c.apiArtifacts += len(list.Items)
		}
		n, err := userAPILines(ctx, user, tn.ns, name)
		if err != nil {
			t.Errorf("run %s: user API logs: %v", name, err)
		} else if n[stepjob.StreamStdout] != d.lines || n[stepjob.StreamStderr] != d.lines {
			t.Errorf("run %s: user API shows %v lines, want %d stdout and %d stderr", name, n, d.lines, d.lines)
		}
		c.apiLines += n[stepjob.StreamStdout] + n[stepjob.StreamStderr]
	}
	return c
}

// userAPILines pages through a Run's log in the user API and counts its lines by stream.
func userAPILines(ctx context.Context, c *apiclient.Client, ns, run string) (map[string]int, error) {
	out := map[string]int{}
	q := apiclient.LogQuery{Step: stepName, Limit: 1000}
	for range 100 {
		page, err := c.Logs(ctx, ns, run, q)
		if err != nil {
			return nil, err
		}
		for _, l := range page.Items {
			out[l.Stream]++
		}
		if len(page.Items) == 0 || page.Cursor == "" || page.Cursor == q.Cursor {
			return out, nil
		}
		q.Cursor = page.Cursor
	}
	return nil, errors.New("more than 100 pages")
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// runMissing reports whether the delivery has no Run.
func (tn *tenant) runMissing(d delivery) bool {
	tn.t.Helper()
	err := stk.env.Client.Get(tn.ctx, client.ObjectKey{Namespace: tn.ns, Name: tn.runName(d)}, &aiasv1alpha1.Run{})
	if err != nil && !apierrors.IsNotFound(err) {
		tn.t.Fatal(err)
	}
	return apierrors.IsNotFound(err)
}

// deliveries makes n deliveries named prefix-i asking for lines lines (gate: see
// newDelivery); every third one carries a payload too large to go inline.
func deliveries(prefix string, n, lines, gate int) []delivery {
	ds := make([]delivery, n)
	for i := range ds {
		ds[i] = newDelivery(fmt.Sprintf("%s-%d", prefix, i+1), lines, gate, i%3 == 2)
	}
	return ds
}

// manualRun is a Run created with the Kubernetes API (not a delivery), named id.
func manualRun(id string, lines int) delivery {
	d := newDelivery(id, lines, 0, false)
	d.manual = true
	return d
}

// openGate lets the steps waiting for the tenant's gate go on.
func (tn *tenant) openGate() {
	tn.t.Helper()
	if err := os.WriteFile(tn.gate, nil, 0o644); err != nil {
		tn.t.Fatal(err)
	}
}

// expectCreated fails the test unless every answer is 202 "created" naming its Run.
func (tn *tenant) expectCreated(what string, ds []delivery, as []answer) {
	tn.t.Helper()
	for i, a := range as {
		if a.err != nil || a.code != http.StatusAccepted || a.status != "created" || a.run != tn.runName(ds[i]) {
			tn.t.Fatalf("%s: delivery %s answered %s, want 202 created %s", what, ds[i].id, a, tn.runName(ds[i]))
		}
	}
}

func maxTook(as []answer) time.Duration {
	var m time.Duration
	for _, a := range as {
		m = max(m, a.took)
	}
	return m
}

// recoveryTimes says how long after back (the end of an outage) the Runs completed: for
// those whose command printed its last line before back (its outputs and outcome held
// by step-run), and for the others, how long after their last line.
func recoveryTimes(t *testing.T, runs map[string]*aiasv1alpha1.Run, ds []delivery, tn *tenant, back time.Time) string {
	t.Helper()
	mine := map[string]*aiasv1alpha1.Run{}
	var uids []string
	for _, d := range ds {
		if r := runs[tn.runName(d)]; r != nil {
			mine[string(r.UID)] = r
			uids = append(uids, string(r.UID))
		}
	}
	rows, err := stk.store.Pool().Query(context.Background(), `select run_uid, max(ts) from run_logs where run_uid = any($1) and stream = 'stdout' group by run_uid`, uids)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		UID  string
		Last time.Time
	}
	last, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	var held, after []time.Duration
	for _, l := range last {
		r := mine[l.UID]
		if r == nil || r.Status.CompletionTime == nil {
			continue
		}
		done := r.Status.CompletionTime.Time // whole seconds
		if l.Last.Before(back) {
			held = append(held, done.Sub(back))
		} else {
			after = append(after, done.Sub(l.Last))
		}
	}
	span := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "-"
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return fmt.Sprintf("%s–%s (median %s)", ds[0].Round(100*time.Millisecond), ds[len(ds)-1].Round(100*time.Millisecond), ds[len(ds)/2].Round(100*time.Millisecond))
	}
	return fmt.Sprintf("%d runs whose command ended during the outage completed %s after it (Run completion times are whole seconds); %d that printed on after it completed %s after their last line",
		len(held), span(held), len(after), span(after))
}

// podTimes says, for the Pods of the Runs of ds, how long they took from creation to
// being bound to the Node (the scheduler) and from then to running (the node agent), as
// spans over the Pods (whole seconds: the API's times have no more).
func (tn *tenant) podTimes(ds []delivery) string {
	tn.t.Helper()
	want := map[string]bool{}
	for _, d := range ds {
		want[tn.runName(d)] = true
	}
	var pods corev1.PodList
	if err := stk.env.Client.List(tn.ctx, &pods, client.InNamespace(tn.ns)); err != nil {
		tn.t.Fatal(err)
	}
	var bound, started []time.Duration
	for _, p := range pods.Items {
		if !want[p.Labels[aiasv1alpha1.LabelRun]] {
			continue
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionTrue {
				bound = append(bound, c.LastTransitionTime.Sub(p.CreationTimestamp.Time))
				if p.Status.StartTime != nil {
					started = append(started, p.Status.StartTime.Sub(c.LastTransitionTime.Time))
				}
			}
		}
	}
	span := func(ds []time.Duration) string {
		if len(ds) == 0 {
			return "-"
		}
		sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
		return fmt.Sprintf("%s–%s", ds[0], ds[len(ds)-1])
	}
	return fmt.Sprintf("their %d Pods were bound %s after creation and started %s after that", len(bound), span(bound), span(started))
}
