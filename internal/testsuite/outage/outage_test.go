package outage

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/testrig/testenv"
)

// Lines the steps of the Runs caught by an outage print, 0.1 s apart: the first
// gateLines before the outage, the rest (about 20 s of output) once it has started, so
// that with the default 30 s outages they finish while it lasts, their last lines,
// artifacts and outcome waiting in step-run.
const (
	midStepLines = 210
	gateLines    = 10
)

// Lines of the Runs of deliveries that arrive during an outage.
const lateLines = 5

// PostgreSQL stopped (as a crash stops it) for AIAS_OUTAGE_DB_SECONDS (default 30)
// while AIAS_OUTAGE_RUNS (default 20) Runs are mid-step and deliveries arrive: the hook
// listener answers 503 with Retry-After and creates no Run, step-run keeps retrying with
// backoff, and once the database is back every delivery (the refused ones resent) has
// exactly one Run, and every Run succeeds with every log line and artifact.
func TestDatabaseOutage(t *testing.T) {
	s := stk
	ctx := context.Background()
	outage := envSeconds(t, "AIAS_OUTAGE_DB_SECONDS", 30*time.Second)
	n := envInt(t, "AIAS_OUTAGE_RUNS", 20)
	tn := newTenant(t, "db-outage")
	restartsBefore := s.managerRestarts.Load()

	pre := deliveries("pre", n, midStepLines, gateLines)
	start := time.Now()
	tn.expectCreated("before the outage", pre, tn.deliverAll(pre))
	running := tn.waitMidStep(pre, 2*time.Minute)
	linesBefore := sumLines(t, running)
	t.Logf("%d runs mid-step %s after their deliveries (%d stdout lines stored so far)", n, since(start), linesBefore)

	s.stepAPI.take()
	tn.openGate()
	down := time.Now()
	if err := s.op(func() error { return s.pg.Halt(ctx) }); err != nil {
		t.Fatal(err)
	}
	resumed := false
	defer func() {
		if !resumed {
			_ = s.op(func() error { return s.pg.Resume(context.Background()) })
		}
	}()

	// Deliveries while the database is down: refused with 503 and Retry-After, at once,
	// and no Run exists for any of them (a Run is never created unrecorded).
	late := deliveries("late", 10, lateLines, 0)
	refused := tn.deliverAll(late)
	for i, a := range refused {
		if a.err != nil || a.code != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Errorf("delivery %s during the outage answered %s, want 503 with Retry-After", late[i].id, a)
		}
		if a.took > 10*time.Second {
			t.Errorf("delivery %s during the outage took %s to be answered", late[i].id, a.took)
		}
	}
	t.Logf("%d deliveries during the outage: %s, slowest answer %s", len(late), summarize(refused), maxTook(refused).Round(time.Millisecond))

	// Runs created with the Kubernetes API meanwhile (kubectl create): the Run
	// controller cannot freeze or admit them without the database, and retries.
	var manual []delivery
	for i := range 5 {
		d := manualRun(fmt.Sprintf("manual-%d", i+1), lateLines)
		if err := tn.createRun(d); err != nil {
			t.Fatal(err)
		}
		manual = append(manual, d)
	}

	sleepUntil(down.Add(outage))
	for _, d := range late {
		if !tn.runMissing(d) {
			t.Errorf("delivery %s, refused during the outage, has a Run", d.id)
		}
	}
	// No step gave up: every Pod still runs, step-run holding its lines, artifacts and
	// outcome until the database is back.
	var pods corev1.PodList
	if err := s.env.Client.List(ctx, &pods, client.InNamespace(tn.ns)); err != nil {
		t.Fatal(err)
	}
	notRunning := 0
	for _, p := range pods.Items {
		if p.Status.Phase != corev1.PodRunning {
			notRunning++
			t.Errorf("pod %s is %s at the end of the outage", p.Name, p.Status.Phase)
		}
	}
	stepAnswers := s.stepAPI.take()
	if err := s.op(func() error { return s.pg.Resume(ctx) }); err != nil {
		t.Fatal(err)
	}
	resumed = true
	back := time.Now()
	rate := float64(total(stepAnswers)) / float64(n) / back.Sub(down).Seconds()
	t.Logf("PostgreSQL down for %s; the step API answered step-run %s meanwhile (%.2f requests per step per second); %d of %d pods still running",
		since(down), codes(stepAnswers), rate, len(pods.Items)-notRunning, len(pods.Items))
	// step-run retries with backoff (200 ms doubling to 5 s), its log shipper and its
	// uploads one request at a time each: well under 2 requests per second per step.
	if stepAnswers[http.StatusServiceUnavailable] == 0 || rate > 2 {
		t.Errorf("the step API answered %v during the outage (%.2f requests per step per second), want 503s at a backed-off rate", stepAnswers, rate)
	}

	// The senders retry: now each refused delivery becomes its Run; an earlier delivery
	// sent again is a duplicate.
	tn.expectCreated("after the outage", late, tn.deliverAll(late))
	if a := tn.deliver(s.replicas[1], pre[0]); a.code != http.StatusOK || a.status != "duplicate" || a.run != tn.runName(pre[0]) {
		t.Errorf("redelivery of %s after the outage: %s, want 200 duplicate", pre[0].id, a)
	}

	tn.waitSucceeded(manual, 3*time.Minute)
	// The Run controller's retries are at most maxRetryDelay (10 s) apart.
	if took := time.Since(back); took > 30*time.Second {
		t.Errorf("the runs created during the outage took %s after it to succeed", took.Round(100*time.Millisecond))
	}
	t.Logf("the %d runs created during the outage succeeded %s after PostgreSQL came back; %s", len(manual), since(back), tn.podTimes(manual))
	all := append(append(append([]delivery{}, pre...), late...), manual...)
	runs := tn.waitSucceeded(all, 3*time.Minute)
	t.Logf("all %d runs succeeded %s after PostgreSQL came back; %s", len(all), since(back), recoveryTimes(t, runs, pre, tn, back))
	c := tn.verifyRuns(all, runs)
	if got := len(tn.runs()); got != len(all) {
		t.Errorf("%d runs in the namespace, want %d (one per delivery)", got, len(all))
	}
	t.Logf("verified %d runs: %d stdout + %d stderr lines in the store (%d through the user API), %d artifacts (%d through the user API), %d payloads stored in PostgreSQL; manager restarts: %d",
		c.runs, c.stdout, c.stderr, c.apiLines, c.artifacts, c.apiArtifacts, c.storedInputs, s.managerRestarts.Load()-restartsBefore)
}

// The kube-apiserver stopped for AIAS_OUTAGE_APISERVER_SECONDS (default 30) and started
// again on the same etcd and port while AIAS_OUTAGE_RUNS Runs are mid-step and
// deliveries arrive: the steps go on storing their logs, the hook listener answers 503
// with Retry-After (the delivery recorded, no Run), and once the apiserver is back the
// manager (restarted when it lost its lease), the node agent, kube-controller-manager
// and the webhookservers carry on: every delivery has exactly one Run, every Run
// succeeds with everything its step produced.
func TestAPIServerRestart(t *testing.T) {
	s := stk
	outage := envSeconds(t, "AIAS_OUTAGE_APISERVER_SECONDS", 30*time.Second)
	n := envInt(t, "AIAS_OUTAGE_RUNS", 20)
	tn := newTenant(t, "apiserver-restart")
	restartsBefore := s.managerRestarts.Load()

	pre := deliveries("pre", n, midStepLines, gateLines)
	start := time.Now()
	tn.expectCreated("before the restart", pre, tn.deliverAll(pre))
	running := tn.waitMidStep(pre, 2*time.Minute)
	linesBefore := sumLines(t, running)
	t.Logf("%d runs mid-step %s after their deliveries (%d stdout lines stored so far)", n, since(start), linesBefore)

	s.stepAPI.take()
	tn.openGate()
	down := time.Now()
	if err := s.op(s.env.StopAPIServer); err != nil {
		t.Fatal(err)
	}
	restarted := false
	defer func() {
		if !restarted {
			_ = s.op(s.env.StartAPIServer)
		}
	}()
	stopTook := since(down)

	late := deliveries("late", 10, lateLines, 0)
	refused := tn.deliverAll(late)
	for i, a := range refused {
		if a.err != nil || a.code != http.StatusServiceUnavailable || a.retryAfter == "" {
			t.Errorf("delivery %s while the apiserver is down answered %s, want 503 with Retry-After", late[i].id, a)
		}
		if a.took > 10*time.Second {
			t.Errorf("delivery %s while the apiserver is down took %s to be answered", late[i].id, a.took)
		}
	}
	t.Logf("kube-apiserver stopped in %s; %d deliveries meanwhile: %s, slowest answer %s",
		stopTook, len(late), summarize(refused), maxTook(refused).Round(time.Millisecond))

	sleepUntil(down.Add(outage))
	linesDuring := sumLines(t, running) - linesBefore
	stepAnswers := s.stepAPI.take()
	if linesDuring == 0 {
		t.Error("no log line was stored while the apiserver was down")
	}
	startAt := time.Now()
	if err := s.op(s.env.StartAPIServer); err != nil {
		t.Fatalf("%v; its log ends:\n%s", err, testenv.TailFile(s.env.APIServerLog(), 40))
	}
	restarted = true
	back := time.Now()
	t.Logf("kube-apiserver down for %s (started again in %s); meanwhile the steps stored %d stdout lines, the step API answered %s",
		back.Sub(down).Round(100*time.Millisecond), back.Sub(startAt).Round(100*time.Millisecond), linesDuring, codes(stepAnswers))
	if err := s.env.ComponentsExited(); err != nil {
		t.Fatal(err)
	}

	// The refused deliveries were recorded (pending) and have no Run.
	ledger := tn.ledger(late)
	for _, d := range late {
		if !tn.runMissing(d) {
			t.Errorf("delivery %s, refused while the apiserver was down, has a Run", d.id)
		}
		if row, ok := ledger[d.id]; !ok || row.outcome != store.DeliveryPending || row.run != tn.runName(d) {
			t.Errorf("delivery %s: ledger row %+v (found %v), want it pending for run %s", d.id, row, ok, tn.runName(d))
		}
	}
	// The senders retry, some to the other replica.
	resent := make([]answer, len(late))
	for i, d := range late {
		resent[i] = tn.deliver(s.replicas[(i+1)%len(s.replicas)], d)
	}
	tn.expectCreated("after the restart", late, resent)

	tn.waitSucceeded(late, 3*time.Minute)
	t.Logf("the %d runs of the resent deliveries succeeded %s after the apiserver came back; %s", len(late), since(back), tn.podTimes(late))
	all := append(append([]delivery{}, pre...), late...)
	runs := tn.waitSucceeded(all, 3*time.Minute)
	t.Logf("all %d runs succeeded %s after the apiserver came back; %s", len(all), since(back), recoveryTimes(t, runs, pre, tn, back))
	c := tn.verifyRuns(all, runs)
	if got := len(tn.runs()); got != len(all) {
		t.Errorf("%d runs in the namespace, want %d (one per delivery)", got, len(all))
	}
	if err := s.env.ComponentsExited(); err != nil {
		t.Error(err)
	}
	t.Logf("verified %d runs: %d stdout + %d stderr lines in the store (%d through the user API), %d artifacts (%d through the user API), %d payloads stored in PostgreSQL; manager restarts: %d",
		c.runs, c.stdout, c.stderr, c.apiLines, c.artifacts, c.apiArtifacts, c.storedInputs, s.managerRestarts.Load()-restartsBefore)
}

// Two webhookserver replicas on the same database and cluster take every delivery at
// once, each twice: exactly one answer per delivery is 202 "created", the others 200
// "duplicate" with the same Run, and each delivery has exactly one Run, Job and ledger
// row.
func TestReplicasShareDeliveries(t *testing.T) {
	s := stk
	ctx := context.Background()
	tn := newTenant(t, "replicas")
	ds := deliveries("dup", 20, 3, 0)
	const copies = 4 // two to each replica

	answers := make([][]answer, len(ds))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, d := range ds {
		answers[i] = make([]answer, copies)
		for j := range copies {
			wg.Go(func() { <-gate; answers[i][j] = tn.deliver(s.replicas[j%len(s.replicas)], d) })
		}
	}
	start := time.Now()
	close(gate)
	wg.Wait()
	took := since(start)
	var all []answer
	for i, as := range answers {
		all = append(all, as...)
		created, duplicate := 0, 0
		for _, a := range as {
			switch {
			case a.err == nil && a.code == http.StatusAccepted && a.status == "created" && a.run == tn.runName(ds[i]):
				created++
			case a.err == nil && a.code == http.StatusOK && a.status == "duplicate" && a.run == tn.runName(ds[i]):
				duplicate++
			}
		}
		if created != 1 || duplicate != copies-1 {
			t.Errorf("delivery %s sent %d times at once: %d created, %d duplicate (%s)", ds[i].id, copies, created, duplicate, summarize(as))
		}
	}
	t.Logf("%d deliveries × %d at once to 2 replicas in %s: %s", len(ds), copies, took, summarize(all))

	// Sent again later, to either replica: answered from the ledger.
	for i, d := range ds {
		if a := tn.deliver(s.replicas[i%len(s.replicas)], d); a.code != http.StatusOK || a.status != "duplicate" || a.run != tn.runName(d) {
			t.Errorf("redelivery of %s: %s, want 200 duplicate", d.id, a)
		}
	}

	runs := tn.waitSucceeded(ds, 2*time.Minute)
	if len(runs) != len(ds) {
		t.Errorf("%d runs in the namespace, want %d (one per delivery)", len(runs), len(ds))
	}
	var jobs batchv1.JobList
	if err := s.env.Client.List(ctx, &jobs, client.InNamespace(tn.ns)); err != nil {
		t.Fatal(err)
	}
	if len(jobs.Items) != len(ds) {
		t.Errorf("%d Jobs in the namespace, want %d (one attempt per Run)", len(jobs.Items), len(ds))
	}
	var rows int
	if err := s.store.Pool().QueryRow(ctx, `select count(*) from deliveries where endpoint_uid = $1`, string(tn.ep.UID)).Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != len(ds) {
		t.Errorf("%d ledger rows for the endpoint, want %d", rows, len(ds))
	}
	c := tn.verifyRuns(ds, runs)
	t.Logf("verified %d runs, %d Jobs, %d ledger rows: %d stdout + %d stderr lines, %d artifacts, %d payloads stored in PostgreSQL",
		c.runs, len(jobs.Items), rows, c.stdout, c.stderr, c.artifacts, c.storedInputs)
}

func sumLines(t *testing.T, runs map[string]*aiasv1alpha1.Run) int {
	t.Helper()
	lines, err := storedLines(context.Background(), runs)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, v := range lines {
		n += v
	}
	return n
}

func since(t time.Time) time.Duration { return time.Since(t).Round(100 * time.Millisecond) }

func sleepUntil(t time.Time) { time.Sleep(time.Until(t)) }

// summarize counts answers by status and word, e.g. "503 Unavailable ×10".
func summarize(as []answer) string {
	byKind := map[string]int{}
	for _, a := range as {
		k := "error"
		if a.err == nil {
			k = fmt.Sprintf("%d %s%s", a.code, a.status, a.reason)
		}
		byKind[k]++
	}
	var parts []string
	for k, v := range byKind {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func codes(m map[int]int) string {
	var parts []string
	for code, n := range m {
		parts = append(parts, fmt.Sprintf("%d×%d", code, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func total(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
