package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/internal/userapi"
)

// A forEach step is one step of the API with its items' counts and list, and each item
// is a step of its own to the logs and artifact routes (`square.1`): the step name with
// a dot reaches the item, the step's name reaches all of its items, an item the step
// does not have is 404.
func TestUserAPIForEachItems(t *testing.T) {
	e := newUserEnv(t)
	ns := uniqueNS("items")
	e.namespace(ns)
	viewer := e.member(ns, "viewer", "viewer")

	spec := aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{
		{Name: "list", Image: "busybox", Command: []string{"sh"}},
		{Name: "square", Image: "busybox", Command: []string{"sh"}, DependsOn: []string{"list"}, ForEach: "results.list"}}}
	raw, _ := json.Marshal(spec)
	specDigest, err := testStore.PutWorkflowSpec(e.ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Name: "fan", Namespace: ns},
		Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "wf"}}}
	if err := e.c.Create(e.ctx, run); err != nil {
		t.Fatal(err)
	}
	result, err := testStore.PutArtifact(e.ctx, store.ArtifactKey{Namespace: ns, RunName: "fan", RunUID: string(run.UID), Step: "square.1", Attempt: 2, Name: "result"},
		"application/json", strings.NewReader(`{"n":4}`), 0, "")
	if err != nil {
		t.Fatal(err)
	}
	now := metav1.Now()
	run.Status = aiasv1alpha1.RunStatus{Phase: aiasv1alpha1.RunRunning, SpecDigest: specDigest, StartTime: &now, Steps: []aiasv1alpha1.StepStatus{
		{Name: "list", Phase: aiasv1alpha1.StepSucceeded, Attempts: 1, ExitCode: ptr.To[int32](0)},
		{Name: "square", Phase: aiasv1alpha1.StepRunning, StartTime: &now, Items: []aiasv1alpha1.ItemStatus{
			{Phase: aiasv1alpha1.StepFailed, Attempts: 1, JobName: "fan-square.0-1", ExitCode: ptr.To[int32](3), Message: "exit code 3"},
			{Phase: aiasv1alpha1.StepSucceeded, Attempts: 2, JobName: "fan-square.1-2", ExitCode: ptr.To[int32](0), OutputDigest: result.Digest},
			{Phase: aiasv1alpha1.StepRunning, Attempts: 1, JobName: "fan-square.2-1"},
			{Phase: aiasv1alpha1.StepPending},
		}}}}
	if err := e.c.Status().Update(e.ctx, run); err != nil {
		t.Fatal(err)
	}
	if err := testStore.UpsertRun(e.ctx, store.RunRecord{UID: string(run.UID), Namespace: ns, Name: "fan", Workflow: "wf", Phase: "Running",
		Trigger: "Manual", CreatedAt: run.CreationTimestamp.Time, StartedAt: &now.Time}); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute)
	for i, l := range []struct {
		step    string
		attempt int
	}{{"list", 1}, {"square.0", 1}, {"square.1", 1}, {"square.1", 2}, {"square.2", 1}} {
		target := store.LogTarget{Namespace: ns, RunUID: string(run.UID), Step: l.step, Attempt: l.attempt}
		line := stepjob.LogLine{Stream: "stdout", Seq: 1, Time: base.Add(time.Duration(i) * time.Second), Line: l.step + " says hi"}
		if _, err := testStore.AppendLogs(e.ctx, target, []stepjob.LogLine{line}); err != nil {
			t.Fatal(err)
		}
	}
	path := "/api/v1/namespaces/" + ns + "/runs/fan"

	d := decode[userapi.RunDetail](t, e.do("GET", path, viewer, nil))
	steps := decode[userapi.StepList](t, e.do("GET", path+"/steps", viewer, nil))
	for _, got := range [][]userapi.Step{d.Steps, steps.Items} {
		if len(got) != 2 || got[0].ItemTotal != 0 || got[0].Items != nil || got[0].ItemCounts != nil {
			t.Fatalf("steps %+v: want list (no items) and square", got)
		}
		sq := got[1]
		counts, _ := json.Marshal(sq.ItemCounts)
		if sq.Name != "square" || sq.ItemTotal != 4 || string(counts) != `{"Failed":1,"Pending":1,"Running":1,"Succeeded":1}` || len(sq.Items) != 4 {
			t.Fatalf("square: total %d, counts %s, %d items", sq.ItemTotal, counts, len(sq.Items))
		}
		if it := sq.Items[1]; it.Index != 1 || it.Name != "square.1" || it.Phase != "Succeeded" || it.Attempts != 2 ||
			it.JobName != "fan-square.1-2" || it.OutputDigest != result.Digest || it.ExitCode == nil || *it.ExitCode != 0 {
			t.Errorf("item 1: %+v", it)
		}
		if it := sq.Items[0]; it.Name != "square.0" || it.Phase != "Failed" || it.Message != "exit code 3" || it.ExitCode == nil || *it.ExitCode != 3 {
			t.Errorf("item 0: %+v", it)
		}
	}
	// A pending item is a few bytes: what it does not have is left out.
	resp := e.do("GET", path+"/steps", viewer, nil)
	body, _ := io.ReadAll(resp.Body)
	if want := `{"index":3,"name":"square.3","phase":"Pending"}`; !strings.Contains(string(body), want) {
		t.Errorf("steps lack %s:\n%s", want, body)
	}

	logs := func(query string) (lines []string) {
		t.Helper()
		resp := e.do("GET", path+"/logs?"+query, viewer, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("logs?%s: %d", query, resp.StatusCode)
		}
		for _, l := range decode[userapi.LogPage](t, resp).Items {
			lines = append(lines, l.Step+"#"+strconv.Itoa(l.Attempt)+" "+l.Line)
		}
		return lines
	}
	for query, want := range map[string]string{
		"step=square.1":           "[square.1#1 square.1 says hi square.1#2 square.1 says hi]",
		"step=square.1&attempt=2": "[square.1#2 square.1 says hi]",
		"step=square":             "[square.0#1 square.0 says hi square.1#1 square.1 says hi square.1#2 square.1 says hi square.2#1 square.2 says hi]",
		"step=square&attempt=2":   "[square.1#2 square.1 says hi]",
		"step=list":               "[list#1 list says hi]",
		"":                        "[list#1 list says hi square.0#1 square.0 says hi square.1#1 square.1 says hi square.1#2 square.1 says hi square.2#1 square.2 says hi]",
	} {
		if got := strings.Join(logs(query), " "); "["+got+"]" != want {
			t.Errorf("logs?%s = [%s], want %s", query, got, want)
		}
	}
	for _, step := range []string{"square.4", "square.01", "square.-1", "list.0", "nope.1", "square."} {
		if resp := e.do("GET", path+"/logs?step="+step, viewer, nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("logs?step=%s: %d, want 404", step, resp.StatusCode)
		}
	}

	resp = e.do("GET", path+"/artifacts/square.1/result", viewer, nil)
	body, _ = io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || string(body) != `{"n":4}` || resp.Header.Get("ETag") != `"`+result.Digest+`"` {
		t.Errorf("item artifact: %d %q, ETag %s", resp.StatusCode, body, resp.Header.Get("ETag"))
	}
	if p := decode[userapi.Preview](t, e.do("GET", path+"/artifacts/square.1/result/preview?attempt=2", viewer, nil)); p.Kind != "json" || p.Digest != result.Digest {
		t.Errorf("item preview: %+v", p)
	}
	if resp := e.do("GET", path+"/artifacts/square.0/result", viewer, nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("a failed item's result: %d, want 404", resp.StatusCode)
	}
}
