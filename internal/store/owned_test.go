package store

import (
	"context"
	"errors"
	"io/fs"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/tern/v2/migrate"
)

// Inputs belong to the namespace that stored them: another namespace reading the same
// digest, directly or through a Run of its own indexed with that digest, finds nothing.
// (Issue 21: on main inputs were keyed by digest alone, and both reads returned the
// other namespace's payload.)
func TestInputsScopedToNamespace(t *testing.T) {
	ctx := context.Background()
	nsA, nsB := "in-a-"+newUID(t)[:8], "in-b-"+newUID(t)[:8]
	payload := []byte(`{"secret":"a"}`)
	digest, err := testStore.PutInput(ctx, nsA, payload, "application/json")
	if err != nil || digest != sha(payload) {
		t.Fatalf("put: %s %v", digest, err)
	}
	if got, ct, err := testStore.GetInput(ctx, nsA, digest); err != nil || string(got) != string(payload) || ct != "application/json" {
		t.Fatalf("own namespace: %q %q %v", got, ct, err)
	}
	if _, _, err := testStore.GetInput(ctx, nsB, digest); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other namespace: %v, want ErrNotFound", err)
	}
	runA, runB := newUID(t), newUID(t)
	for _, r := range []RunRecord{{UID: runA, Namespace: nsA}, {UID: runB, Namespace: nsB}} {
		r.Name, r.Workflow, r.Phase, r.Trigger, r.InputDigest, r.CreatedAt = "r", "w", "Running", "Manual", digest, time.Now()
		if err := testStore.UpsertRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	if got, _, err := testStore.RunInput(ctx, nsA, runA); err != nil || string(got) != string(payload) {
		t.Errorf("run of the owner: %q %v", got, err)
	}
	if got, _, err := testStore.RunInput(ctx, nsB, runB); !errors.Is(err, ErrNotFound) {
		t.Errorf("run of another namespace read %q (%v), want ErrNotFound", got, err)
	}
	if _, _, err := testStore.RunInput(ctx, nsB, runA); !errors.Is(err, ErrNotFound) {
		t.Errorf("a run asked for under the wrong namespace: %v", err)
	}
	// Storing the same content for the other namespace makes it its own copy.
	if _, err := testStore.PutInput(ctx, nsB, payload, "application/json"); err != nil {
		t.Fatal(err)
	}
	if got, _, err := testStore.RunInput(ctx, nsB, runB); err != nil || string(got) != string(payload) {
		t.Errorf("after its own put: %q %v", got, err)
	}
}

// backdate makes a stored input or spec look stored long ago.
func backdate(t *testing.T, table, digest string, age time.Duration) {
	t.Helper()
	if _, err := testStore.pool.Exec(context.Background(), `update `+table+` set stored_at = now() - $2::float8 * interval '1 second' where digest = $1`,
		digest, age.Seconds()); err != nil {
		t.Fatal(err)
	}
}

// The sweep's store half: an input or spec no indexed Run refers to is listed once it is
// older than the grace, and deleted unless something refers to it by then; one a Run
// refers to, or one younger than the grace, is never listed; a kept one is refreshed.
// Storing the same content again refreshes an old row. (On main nothing was ever deleted.)
func TestSweepUnreferencedInputsAndSpecs(t *testing.T) {
	ctx := context.Background()
	ns := "sweep-" + newUID(t)[:8]
	put := func(s string) string {
		d, err := testStore.PutInput(ctx, ns, []byte(s), "text/plain")
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	orphan, referenced, young, kept := put("orphan "+ns), put("referenced "+ns), put("young "+ns), put("kept "+ns)
	specOrphan, err := testStore.PutWorkflowSpec(ctx, []byte(`{"orphan":"`+ns+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	specUsed, err := testStore.PutWorkflowSpec(ctx, []byte(`{"used":"`+ns+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := testStore.UpsertRun(ctx, RunRecord{UID: newUID(t), Namespace: ns, Name: "r", Workflow: "w", Phase: "Running", Trigger: "Manual",
		InputDigest: referenced, SpecDigest: specUsed, CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{orphan, referenced, kept} {
		backdate(t, "inputs", d, 2*time.Hour)
	}
	backdate(t, "workflow_specs", specOrphan, 2*time.Hour)
	backdate(t, "workflow_specs", specUsed, 2*time.Hour)

	mine := func(ins []StoredInput) map[string]bool {
		m := map[string]bool{}
		for _, in := range ins {
			if in.Namespace == ns {
				m[in.Digest] = true
			}
		}
		return m
	}
	cands, err := testStore.UnreferencedInputs(ctx, OrphanGrace, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if got := mine(cands); len(got) != 2 || !got[orphan] || !got[kept] {
		t.Fatalf("candidates %v; want the orphan and the one to keep (not the referenced %s nor the young %s)", got, referenced, young)
	}
	n, err := testStore.SweepInputs(ctx, []StoredInput{{ns, orphan}, {ns, referenced}}, []StoredInput{{ns, kept}}, OrphanGrace)
	if err != nil || n != 1 {
		t.Fatalf("swept %d (%v), want 1", n, err)
	}
	for d, want := range map[string]bool{orphan: false, referenced: true, young: true, kept: true} {
		if _, _, err := testStore.GetInput(ctx, ns, d); (err == nil) != want {
			t.Errorf("input %s present = %v, want %v", d, err == nil, want)
		}
	}
	if cands, _ := testStore.UnreferencedInputs(ctx, OrphanGrace, 100000); mine(cands)[kept] {
		t.Error("a kept input is listed again at once")
	}
	// Stored again, an old unreferenced input is young again and not swept.
	backdate(t, "inputs", kept, 2*time.Hour)
	put("kept " + ns)
	if n, err := testStore.SweepInputs(ctx, []StoredInput{{ns, kept}}, nil, OrphanGrace); err != nil || n != 0 {
		t.Errorf("an input stored again was swept: %d %v", n, err)
	}

	specs, err := testStore.UnreferencedSpecs(ctx, OrphanGrace, 100000)
	if err != nil {
		t.Fatal(err)
	}
	if !contains(specs, specOrphan) || contains(specs, specUsed) {
		t.Fatalf("spec candidates %v: want %s, not %s", specs, specOrphan, specUsed)
	}
	if n, err := testStore.SweepSpecs(ctx, []string{specOrphan, specUsed}, nil, OrphanGrace); err != nil || n != 1 {
		t.Fatalf("swept %d specs (%v), want 1", n, err)
	}
	if _, err := testStore.WorkflowSpec(ctx, specOrphan); !errors.Is(err, ErrNotFound) {
		t.Errorf("orphan spec: %v", err)
	}
	if _, err := testStore.WorkflowSpec(ctx, specUsed); err != nil {
		t.Errorf("used spec: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// The delivery log is listed and redelivered by endpoint UID, and an endpoint's rows (log,
// bodies, ledger) are deleted by it: an endpoint created again under the same name sees
// none of its predecessor's. (On main the log was keyed by namespace and endpoint name.)
func TestDeliveryLogByEndpointUID(t *testing.T) {
	ctx := context.Background()
	ns := "dl-" + newUID(t)[:8]
	oldUID, newEpUID := newUID(t), newUID(t)
	until := time.Now().Add(time.Hour)
	for i := range 3 {
		id := "d" + strconv.Itoa(i)
		if err := testStore.LogDelivery(ctx, LoggedDelivery{Namespace: ns, Endpoint: "hooks", EndpointUID: oldUID, ReceivedAt: time.Now(),
			Verified: true, DeliveryID: id, Outcome: "created", Status: 202, Body: []byte("{}"), BodyExpiresAt: &until}); err != nil {
			t.Fatal(err)
		}
		if _, err := testStore.RecordDelivery(ctx, Delivery{EndpointUID: oldUID, DeliveryID: id, Namespace: ns, Endpoint: "hooks",
			RunName: "r" + id, ReceivedAt: time.Now(), Window: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := testStore.ListDeliveryLog(ctx, oldUID, 10, "")
	if err != nil || len(page.Deliveries) != 3 {
		t.Fatalf("old endpoint's log: %+v %v", page, err)
	}
	if page, err := testStore.ListDeliveryLog(ctx, newEpUID, 10, ""); err != nil || len(page.Deliveries) != 0 {
		t.Errorf("a new endpoint of the same name lists %d rows (%v)", len(page.Deliveries), err)
	}
	if _, err := testStore.StoredDelivery(ctx, newEpUID, page.Deliveries[0].ID, time.Now()); !errors.Is(err, ErrNotFound) {
		t.Errorf("a new endpoint of the same name reads the old body: %v", err)
	}
	if _, err := testStore.StoredDelivery(ctx, oldUID, page.Deliveries[0].ID, time.Now()); err != nil {
		t.Errorf("own stored delivery: %v", err)
	}
	var total int64
	for {
		n, err := testStore.DeleteEndpointDeliveries(ctx, oldUID, 2)
		if err != nil {
			t.Fatal(err)
		}
		total += n
		if n < 2 {
			break
		}
	}
	if total != 6 {
		t.Errorf("deleted %d rows, want 3 log and 3 ledger rows", total)
	}
	if n := count(t, `select count(*) from delivery_log where endpoint_uid = $1`, oldUID) + count(t, `select count(*) from deliveries where endpoint_uid = $1`, oldUID); n != 0 {
		t.Errorf("%d rows left", n)
	}
}

// Run claims and counters are keyed by Tenant UID: a new Tenant of a deleted one's name
// starts from zero, and deleting a Tenant's usage deletes its claims and counters.
func TestUsageByTenantUID(t *testing.T) {
	ctx := context.Background()
	period := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	oldTenant, newTenant := newUID(t), newUID(t)
	for range 3 {
		if ok, _, err := testStore.ClaimRun(ctx, RunClaim{RunUID: newUID(t), TenantUID: oldTenant, PeriodStart: period, Limit: 3}); !ok || err != nil {
			t.Fatalf("claim: %v %v", ok, err)
		}
	}
	if ok, n, err := testStore.ClaimRun(ctx, RunClaim{RunUID: newUID(t), TenantUID: newTenant, PeriodStart: period, Limit: 3}); !ok || n != 1 || err != nil {
		t.Errorf("a new Tenant's first claim: %v %d %v", ok, n, err)
	}
	if err := testStore.DeleteTenantUsage(ctx, "acme", oldTenant); err != nil {
		t.Fatal(err)
	}
	if n, err := testStore.TenantRuns(ctx, oldTenant, period); err != nil || n != 0 {
		t.Errorf("deleted tenant's runs %d %v", n, err)
	}
	if n := count(t, `select count(*) from run_claims where tenant_uid = $1`, oldTenant); n != 0 {
		t.Errorf("%d claims left", n)
	}
	if n, _ := testStore.TenantRuns(ctx, newTenant, period); n != 1 {
		t.Errorf("the other Tenant lost its count: %d", n)
	}
	// Periods long past are purged.
	if _, _, err := testStore.ClaimRun(ctx, RunClaim{RunUID: newUID(t), TenantUID: newTenant, PeriodStart: period.AddDate(-1, 0, 0), Limit: -1}); err != nil {
		t.Fatal(err)
	}
	if _, err := testStore.PurgeUsage(ctx, period.AddDate(0, -6, 0), 1000); err != nil {
		t.Fatal(err)
	}
	if n, _ := testStore.TenantRuns(ctx, newTenant, period.AddDate(-1, 0, 0)); n != 0 {
		t.Errorf("a year-old period kept %d runs", n)
	}
	if n, _ := testStore.TenantRuns(ctx, newTenant, period); n != 1 {
		t.Errorf("the current period lost its count: %d", n)
	}
}

// migrationVersion is the version of the embedded migration whose name ends in suffix
// (found by name: migrations are renumbered when branches merge).
func migrationVersion(t *testing.T, suffix string) int32 {
	t.Helper()
	entries, err := fs.ReadDir(migrationFiles, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), suffix) {
			n, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
			if err != nil {
				t.Fatal(err)
			}
			return int32(n)
		}
	}
	t.Fatalf("no migration *%s", suffix)
	return 0
}

// A database of the previous schema upgrades without losing what is in use: each input
// is copied to every namespace whose indexed Run or ledgered delivery refers to it
// (orphans are dropped), frozen specs stay, and run claims counted under a tenant's name
// are adopted by the live Tenant of that name, except those made before it was created
// (an earlier Tenant's), which are dropped.
func TestMigrationScopesInputsAndAdoptsClaims(t *testing.T) {
	ctx := context.Background()
	url, drop, err := pgServer.CreateDatabase(ctx, "aias_owned_migration_test")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = drop(ctx) }()
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m, err := migrate.NewMigrator(ctx, conn.Conn(), versionTable)
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := fs.Sub(migrationFiles, "migrations")
	if err := m.LoadMigrations(sub); err != nil {
		t.Fatal(err)
	}
	if err := m.MigrateTo(ctx, migrationVersion(t, "_owned_inputs.sql")-1); err != nil {
		t.Fatal(err)
	}
	conn.Release()

	shared, ledgered, orphan := []byte("shared"), []byte("ledgered"), []byte("orphan")
	created := time.Now().Add(-time.Hour)
	period := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`insert into inputs (digest, content, content_type, size) values ($1, $2, 'text/plain', 6), ($3, $4, 'text/plain', 8), ($5, $6, 'text/plain', 6)`,
			[]any{sha(shared), shared, sha(ledgered), ledgered, sha(orphan), orphan}},
		{`insert into run_index (uid, namespace, name, workflow, phase, trigger, input_digest, created_at) values
			(gen_random_uuid(), 'ns-a', 'r1', 'w', 'Running', 'Manual', $1, now()),
			(gen_random_uuid(), 'ns-b', 'r2', 'w', 'Running', 'Manual', $1, now())`, []any{sha(shared)}},
		{`insert into deliveries (endpoint_uid, delivery_id, body_sha256, body_size, namespace, endpoint, run_name, outcome, received_at, expires_at)
			values ('ep', 'd1', sha256($1), 8, 'ns-c', 'hooks', 'r3', 'pending', now(), now() + interval '1 hour')`, []any{ledgered}},
		{`insert into workflow_specs (digest, spec) values ($1, '{}')`, []any{sha([]byte("{}"))}},
		{`insert into run_claims (run_uid, tenant, period_start, claimed_at) values
			(gen_random_uuid(), 'acme', $1, $2), (gen_random_uuid(), 'acme', $1, $2), (gen_random_uuid(), 'acme', $1, $3)`,
			[]any{period, created.Add(time.Minute), created.Add(-time.Minute)}},
		{`insert into tenant_usage (tenant, period_start, runs) values ('acme', $1, 3)`, []any{period}},
	} {
		if _, err := pool.Exec(ctx, q.sql, q.args...); err != nil {
			t.Fatalf("%s: %v", q.sql, err)
		}
	}

	s, err := Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, c := range []struct {
		ns      string
		content []byte
		want    bool
	}{{"ns-a", shared, true}, {"ns-b", shared, true}, {"ns-c", ledgered, true}, {"ns-a", ledgered, false}, {"ns-a", orphan, false}} {
		got, _, err := s.GetInput(ctx, c.ns, sha(c.content))
		if (err == nil) != c.want || (c.want && string(got) != string(c.content)) {
			t.Errorf("input %q in %s: %q %v, want present=%v", c.content, c.ns, got, err, c.want)
		}
	}
	var inputs int
	if err := pool.QueryRow(ctx, `select count(*) from inputs`).Scan(&inputs); err != nil || inputs != 3 {
		t.Errorf("%d inputs after the migration (%v), want 3", inputs, err)
	}
	if _, err := s.WorkflowSpec(ctx, sha([]byte("{}"))); err != nil {
		t.Errorf("frozen spec: %v", err)
	}

	tenantUID := "6d1b2c3e-0000-4000-8000-000000000001"
	if n, _ := s.TenantRuns(ctx, tenantUID, period); n != 0 {
		t.Fatalf("runs before adoption: %d", n)
	}
	if ok, n, err := s.ClaimRun(ctx, RunClaim{RunUID: newUID(t), TenantUID: tenantUID, PeriodStart: period, Limit: -1}); !ok || n != 1 || err != nil {
		t.Fatalf("a claim before the adoption: %v %d %v", ok, n, err)
	}
	if n, err := s.AdoptLegacyRunClaims(ctx, "acme", tenantUID, created); err != nil || n != 2 {
		t.Fatalf("adopted %d (%v), want the 2 claims made since the Tenant's creation", n, err)
	}
	if n, _ := s.TenantRuns(ctx, tenantUID, period); n != 3 {
		t.Errorf("runs after adoption %d, want 3 (2 adopted, 1 new)", n)
	}
	if n, err := s.AdoptLegacyRunClaims(ctx, "acme", tenantUID, created); err != nil || n != 0 {
		t.Errorf("a second adoption: %d %v", n, err)
	}
	var legacy int
	if err := pool.QueryRow(ctx, `select count(*) from legacy_run_claims`).Scan(&legacy); err != nil || legacy != 0 {
		t.Errorf("%d legacy claims left (%v)", legacy, err)
	}
}
