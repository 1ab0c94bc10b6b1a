package charttest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

const argoDir = "../../../charts/aias/files/argocd"

// argoHealth is what Argo CD accepts from a health script.
var argoHealth = map[string]bool{"Healthy": true, "Progressing": true, "Degraded": true, "Suspended": true, "Missing": true, "Unknown": true}

// runHealth runs a health script as Argo CD does (util/lua): the object, marshalled to JSON
// and decoded into a map, becomes the Lua table obj; the script's return value is the health.
// Only the libraries Argo CD opens are available.
func runHealth(t *testing.T, kind string, o runtime.Object) (status, message string) {
	t.Helper()
	script, err := os.ReadFile(filepath.Join(argoDir, "aias.dev_"+kind+".lua"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	defer L.Close()
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{{lua.LoadLibName, lua.OpenPackage}, {lua.BaseLibName, lua.OpenBase}, {lua.TabLibName, lua.OpenTable}, {lua.StringLibName, lua.OpenString}, {lua.MathLibName, lua.OpenMath}} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	L.SetContext(ctx)
	L.SetGlobal("obj", toLua(L, m))
	if err := L.DoString(string(script)); err != nil {
		t.Fatalf("%s script: %v", kind, err)
	}
	ret, ok := L.Get(-1).(*lua.LTable)
	if !ok {
		t.Fatalf("%s script returned %v, want a table", kind, L.Get(-1))
	}
	status, message = lua.LVAsString(ret.RawGetString("status")), lua.LVAsString(ret.RawGetString("message"))
	if !argoHealth[status] {
		t.Errorf("%s script returned status %q, which Argo CD does not know", kind, status)
	}
	if message == "" {
		t.Errorf("%s script returned status %s without a message", kind, status)
	}
	return status, message
}

// toLua converts a decoded JSON value as Argo CD does: objects to tables with string keys,
// arrays to sequences from 1.
func toLua(L *lua.LState, v any) lua.LValue {
	switch x := v.(type) {
	case nil:
		return lua.LNil
	case bool:
		return lua.LBool(x)
	case float64:
		return lua.LNumber(x)
	case string:
		return lua.LString(x)
	case []any:
		t := L.NewTable()
		for _, e := range x {
			t.Append(toLua(L, e))
		}
		return t
	case map[string]any:
		t := L.NewTable()
		for k, e := range x {
			t.RawSetString(k, toLua(L, e))
		}
		return t
	}
	panic("unexpected JSON value")
}

func meta(gen int64) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: "x", Namespace: "acme", Generation: gen}
}

func ready(status metav1.ConditionStatus, reason, msg string) []metav1.Condition {
	return []metav1.Condition{
		{Type: "Other", Status: metav1.ConditionFalse, Reason: "Unrelated", Message: "not the Ready condition"},
		{Type: aiasv1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()},
	}
}

type healthCase struct {
	name       string
	obj        runtime.Object
	want       string
	wantInText string
}

func checkHealth(t *testing.T, kind string, cases []healthCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(kind+"/"+tc.name, func(t *testing.T) {
			status, msg := runHealth(t, kind, tc.obj)
			if status != tc.want {
				t.Errorf("status %s (%q), want %s", status, msg, tc.want)
			}
			if !strings.Contains(msg, tc.wantInText) {
				t.Errorf("message %q does not contain %q", msg, tc.wantInText)
			}
		})
	}
}

func TestArgoCDHealthRun(t *testing.T) {
	run := func(phase aiasv1alpha1.RunPhase, msg string) *aiasv1alpha1.Run {
		r := &aiasv1alpha1.Run{ObjectMeta: meta(1)}
		r.Status = aiasv1alpha1.RunStatus{ObservedGeneration: 1, Phase: phase, Message: msg, StepsSummary: "1/2",
			Conditions: ready(metav1.ConditionUnknown, string(phase), msg)}
		return r
	}
	want := map[aiasv1alpha1.RunPhase]string{
		aiasv1alpha1.RunPending: "Progressing", aiasv1alpha1.RunQueued: "Progressing", aiasv1alpha1.RunRunning: "Progressing",
		aiasv1alpha1.RunSucceeded: "Healthy", aiasv1alpha1.RunFailed: "Degraded", aiasv1alpha1.RunCanceled: "Degraded",
		aiasv1alpha1.RunRejected: "Degraded", aiasv1alpha1.RunWaiting: "Suspended",
	}
	// Every phase the CRD allows has a case.
	for _, p := range runPhaseEnum(t) {
		if _, ok := want[aiasv1alpha1.RunPhase(p)]; !ok {
			t.Errorf("Run phase %s (in the CRD) has no health case", p)
		}
	}
	var cases []healthCase
	for phase, status := range want {
		cases = append(cases, healthCase{string(phase), run(phase, "because "+string(phase)), status, "because " + string(phase)})
	}
	cases = append(cases,
		healthCase{"no status", &aiasv1alpha1.Run{ObjectMeta: meta(1)}, "Progressing", "Waiting"},
		healthCase{"message from Ready", func() *aiasv1alpha1.Run {
			r := run(aiasv1alpha1.RunFailed, "")
			r.Status.Conditions = ready(metav1.ConditionFalse, "StepFailed", "step build failed")
			return r
		}(), "Degraded", "step build failed"},
		healthCase{"steps summary", run(aiasv1alpha1.RunRunning, ""), "Progressing", "1/2"},
	)
	checkHealth(t, "Run", cases)
}

// runPhaseEnum reads the Run CRD's status.phase enum.
func runPhaseEnum(t *testing.T) []string {
	t.Helper()
	var crd struct {
		Spec struct {
			Versions []struct {
				Schema struct {
					OpenAPIV3Schema struct {
						Properties map[string]struct {
							Properties map[string]struct {
								Enum []string `json:"enum"`
							} `json:"properties"`
						} `json:"properties"`
					} `json:"openAPIV3Schema"`
				} `json:"schema"`
			} `json:"versions"`
		} `json:"spec"`
	}
	readYAML(t, filepath.Join(chartDir, "crds", "aias.dev_runs.yaml"), &crd)
	enum := crd.Spec.Versions[0].Schema.OpenAPIV3Schema.Properties["status"].Properties["phase"].Enum
	if len(enum) == 0 {
		t.Fatal("no status.phase enum in the Run CRD")
	}
	return enum
}

func TestArgoCDHealthWorkflow(t *testing.T) {
	wf := func(gen, seen int64, conds []metav1.Condition) *aiasv1alpha1.Workflow {
		return &aiasv1alpha1.Workflow{ObjectMeta: meta(gen), Status: aiasv1alpha1.WorkflowStatus{ObservedGeneration: seen, Conditions: conds}}
	}
	checkHealth(t, "Workflow", []healthCase{
		{"ready", wf(2, 2, ready(metav1.ConditionTrue, "Ready", "2 steps")), "Healthy", "2 steps"},
		{"not ready", wf(2, 2, ready(metav1.ConditionFalse, "SecretNotFound", `Secret "db" not found`)), "Degraded", "SecretNotFound"},
		{"unknown", wf(2, 2, ready(metav1.ConditionUnknown, "Checking", "checking")), "Progressing", "checking"},
		{"stale", wf(3, 2, ready(metav1.ConditionTrue, "Ready", "2 steps")), "Progressing", "Waiting"},
		{"no status", wf(1, 0, nil), "Progressing", "Workflow"},
	})
}

func TestArgoCDHealthWebhookEndpoint(t *testing.T) {
	ep := func(suspend bool, conds []metav1.Condition) *aiasv1alpha1.WebhookEndpoint {
		e := &aiasv1alpha1.WebhookEndpoint{ObjectMeta: meta(1), Status: aiasv1alpha1.WebhookEndpointStatus{ObservedGeneration: 1, Conditions: conds}}
		e.Spec.Suspend = suspend
		return e
	}
	checkHealth(t, "WebhookEndpoint", []healthCase{
		{"ready", ep(false, ready(metav1.ConditionTrue, "Ready", "Deliveries start Runs")), "Healthy", "Deliveries start Runs"},
		{"not ready", ep(false, ready(metav1.ConditionFalse, "WorkflowNotFound", "no Workflow")), "Degraded", "WorkflowNotFound: no Workflow"},
		{"suspended", ep(true, ready(metav1.ConditionTrue, "Ready", "suspended: deliveries are refused")), "Suspended", "spec.suspend"},
		{"suspended and broken", ep(true, ready(metav1.ConditionFalse, "SecretInvalid", "bad key")), "Degraded", "SecretInvalid"},
		{"not reconciled", ep(false, nil), "Progressing", "WebhookEndpoint"},
	})
}

func TestArgoCDHealthSchedule(t *testing.T) {
	sc := func(suspend bool, conds []metav1.Condition) *aiasv1alpha1.Schedule {
		s := &aiasv1alpha1.Schedule{ObjectMeta: meta(4), Status: aiasv1alpha1.ScheduleStatus{ObservedGeneration: 4, Conditions: conds}}
		s.Spec.Suspend = suspend
		return s
	}
	checkHealth(t, "Schedule", []healthCase{
		{"scheduled", sc(false, ready(metav1.ConditionTrue, "Scheduled", "next Run at 2026-01-01T00:00:00Z")), "Healthy", "next Run"},
		{"suspended", sc(true, ready(metav1.ConditionTrue, "Suspended", "suspended: no Runs start")), "Suspended", "no Runs start"},
		{"invalid cron", sc(false, ready(metav1.ConditionFalse, "InvalidSchedule", "bad cron")), "Degraded", "InvalidSchedule"},
		{"missed deadline", sc(false, ready(metav1.ConditionFalse, "MissedStartingDeadline", "tick missed")), "Degraded", "MissedStartingDeadline"},
		{"not reconciled", sc(false, nil), "Progressing", "Schedule"},
	})
}

func TestArgoCDHealthTenant(t *testing.T) {
	tn := func(conds []metav1.Condition) *aiasv1alpha1.Tenant {
		return &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "acme", Generation: 1}, Status: aiasv1alpha1.TenantStatus{ObservedGeneration: 1, Conditions: conds}}
	}
	checkHealth(t, "Tenant", []healthCase{
		{"ready", tn(ready(metav1.ConditionTrue, "Ready", "namespace acme")), "Healthy", "namespace acme"},
		{"plan missing", tn(ready(metav1.ConditionFalse, "PlanNotFound", "no Plan pro")), "Degraded", "PlanNotFound"},
		{"not reconciled", tn(nil), "Progressing", "Tenant"},
	})
}

func TestArgoCDHealthPlan(t *testing.T) {
	checkHealth(t, "Plan", []healthCase{
		// No controller writes a Plan's status: it must not wait forever.
		{"no status", &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: "pro", Generation: 1}}, "Healthy", "no status"},
		{"not ready", &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: "pro", Generation: 1},
			Status: aiasv1alpha1.PlanStatus{Conditions: ready(metav1.ConditionFalse, "Invalid", "bad limits")}}, "Degraded", "bad limits"},
	})
}

// TestArgoCDScriptsCoverEveryKind: every kind the API registers has a script, and the
// argocd-cm snippet carries each script verbatim under
// resource.customizations.health.aias.dev_<Kind>.
func TestArgoCDScriptsCoverEveryKind(t *testing.T) {
	s := runtime.NewScheme()
	if err := aiasv1alpha1.AddToScheme(s); err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `json:"data"`
	}
	readYAML(t, filepath.Join(argoDir, "argocd-cm.yaml"), &cm)
	kinds := map[string]bool{}
	apiPkg := reflect.TypeOf(aiasv1alpha1.Run{}).PkgPath()
	for gvk, typ := range s.AllKnownTypes() {
		// AddToScheme also registers the meta kinds (ListOptions, WatchEvent, ...).
		if gvk.GroupVersion() != aiasv1alpha1.GroupVersion || typ.PkgPath() != apiPkg || strings.HasSuffix(gvk.Kind, "List") {
			continue
		}
		kinds[gvk.Kind] = true
	}
	if len(kinds) < 6 {
		t.Fatalf("only %d kinds registered: %v", len(kinds), kinds)
	}
	files, _ := filepath.Glob(filepath.Join(argoDir, "aias.dev_*.lua"))
	if len(files) != len(kinds) {
		t.Errorf("%d scripts for %d kinds %v", len(files), len(kinds), sortedKeys(kinds))
	}
	for _, kind := range sortedKeys(kinds) {
		script, err := os.ReadFile(filepath.Join(argoDir, "aias.dev_"+kind+".lua"))
		if err != nil {
			t.Errorf("kind %s: %v", kind, err)
			continue
		}
		key := "resource.customizations.health.aias.dev_" + kind
		if cm.Data[key] != string(script) {
			t.Errorf("argocd-cm.yaml %s differs from aias.dev_%s.lua", key, kind)
		}
	}
	if len(cm.Data) != len(kinds) {
		t.Errorf("argocd-cm.yaml has %d keys, want %d", len(cm.Data), len(kinds))
	}
}
