package runengine

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

func TestDecideCache(t *testing.T) {
	cached := step("b", "a")
	cached.Cache = &aiasv1alpha1.StepCache{TTL: metav1.Duration{Duration: time.Hour}}
	spec := []aiasv1alpha1.WorkflowStep{step("a", []string{}...), cached, step("c", "b")}
	ready := []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepSucceeded, 1), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0)}
	withCache := func(in Input, look CacheLookup) Input {
		in.Cache = map[string]CacheLookup{"b": look}
		return in
	}

	// The step asks for its lookup before it starts.
	d := decideAndCheck(t, input(spec, ready), "a=Succeeded b=Pending c=Pending", nil)
	if len(d.NeedCache) != 1 || d.NeedCache[0] != 1 {
		t.Errorf("need cache %v, want [1]", d.NeedCache)
	}
	// A miss starts it.
	decideAndCheck(t, withCache(input(spec, ready), CacheLookup{}), "a=Succeeded b=Running c=Pending", []string{"b"})
	// A hit ends it Succeeded without a start, and the next step starts in the same pass.
	d = decideAndCheck(t, withCache(input(spec, ready), CacheLookup{Hit: &aiasv1alpha1.CachedFrom{Run: "r-1", Step: "b", Attempt: 2}, OutputDigest: "sha256:b"}),
		"a=Succeeded b=Succeeded c=Running", []string{"c"})
	if b := d.Steps[1]; b.CachedFrom == nil || b.OutputDigest != "sha256:b" || b.Message != "cached from r-1/b (attempt 2)" || b.Attempts != 0 {
		t.Errorf("cached step %+v", b)
	}

	// A resumed Run asks for every main step, whatever its cache setting.
	in := input(spec, []aiasv1alpha1.StepStatus{st("a", aiasv1alpha1.StepPending, 0), st("b", aiasv1alpha1.StepPending, 0), st("c", aiasv1alpha1.StepPending, 0)})
	in.Resume = true
	if d := Decide(in); len(d.NeedCache) != 1 || d.NeedCache[0] != 0 || len(d.Starts) != 0 {
		t.Errorf("resume: need cache %v, starts %v; want a's lookup first", d.NeedCache, d.Starts)
	}
}
