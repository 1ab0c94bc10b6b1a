package runengine

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/workflowexpr"
)

// A step with cache set asks, once its dependencies and its when let it start, what the
// step cache holds for it (Decision.NeedCache): the caller computes its key (the resolved
// step, its input, its parameters), looks it up in the namespace's cache and, on a hit,
// copies that attempt's outputs to the step before it decides again (Input.Cache). A hit
// ends the step Succeeded without a Job or a Pod, in the status write that happens
// anyway; a miss starts it as usual.

// CacheLookup is what the step cache held for a step about to start.
type CacheLookup struct {
	// Hit is the attempt whose outputs the step took; nil: a miss, the step runs.
	Hit          *aiasv1alpha1.CachedFrom
	OutputDigest string
}

// cacheDecided applies step i's lookup: true when the step took a cached attempt or the
// lookup is still to be done (the step does not start in this pass either way).
func (p *pass) cacheDecided(i int, step *aiasv1alpha1.WorkflowStep, st *aiasv1alpha1.StepStatus) bool {
	if step.Cache == nil && !p.resumable(i) {
		return false
	}
	look, ok := p.in.Cache[step.Name]
	if !ok {
		p.d.NeedCache = append(p.d.NeedCache, i)
		return true
	}
	if look.Hit == nil {
		return false
	}
	now := metav1.NewTime(p.in.Now)
	st.Phase, st.StartTime, st.CompletionTime, st.ExitCode = aiasv1alpha1.StepSucceeded, &now, &now, ptrInt32(0)
	st.OutputDigest, st.CachedFrom = look.OutputDigest, look.Hit.DeepCopy()
	st.Message = fmt.Sprintf("cached from %s/%s (attempt %d)", look.Hit.Run, look.Hit.Step, look.Hit.Attempt)
	p.d.RefreshArtifacts = true
	return true
}

func cachedCount(steps []aiasv1alpha1.StepStatus) int {
	n := 0
	for _, st := range steps {
		if st.CachedFrom != nil {
			n++
		}
	}
	return n
}

// ExprVars are the variables of step i's expressions (when, forEach, a cache key) given
// the steps' status.
func ExprVars(in Input, steps []aiasv1alpha1.StepStatus, i int) workflowexpr.Vars {
	return exprVars(in.Values, steps, in.main(), i)
}

// resumable: the Run resumes another, and step i is one of its steps (finally steps run
// again: they report on this Run).
func (p *pass) resumable(i int) bool { return p.in.Resume && i < p.in.main() }
