package controllers

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/store"
)

// A Run whose steps stored more artifacts than a status can hold (listed in full, these
// would make the Run larger than etcd accepts) still finishes: its status lists the first
// MaxStatusArtifacts, counts them all and points to the user API, which lists them all.
func TestRunStatusWithMoreArtifactsThanFit(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("many", "w", "")
	job := jobName("many", "a", 1)
	h.waitJobs("many", job)
	run := h.get("many")

	// 3000 entries of ~640 bytes each (long names and content types) are ~1.9 MB of status.
	const n = 3000
	contentType := "application/x-" + strings.Repeat("t", aiasv1alpha1.MaxContentTypeLength-len("application/x-"))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			name := fmt.Sprintf("f%04d-%s", i, strings.Repeat("n", 253-6))
			key := store.ArtifactKey{Namespace: h.ns, RunName: "many", RunUID: string(run.UID), Step: "a", Attempt: 1, Name: name}
			if _, err := testStore.PutArtifact(h.ctx, key, contentType, strings.NewReader(name), 0, ""); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	h.finishJob("many", job, 0, `{"ok":true}`)
	done := h.waitPhaseWithin("many", aiasv1alpha1.RunSucceeded, time.Minute)
	st := done.Status
	if st.ArtifactCount != n+1 || len(st.Artifacts) != aiasv1alpha1.MaxStatusArtifacts {
		t.Errorf("artifactCount %d with %d listed, want %d with %d", st.ArtifactCount, len(st.Artifacts), n+1, aiasv1alpha1.MaxStatusArtifacts)
	}
	if want := "/api/v1/namespaces/" + h.ns + "/runs/many/artifacts"; st.ArtifactsURL != want {
		t.Errorf("artifactsURL = %q, want %q", st.ArtifactsURL, want)
	}
	if len(st.Artifacts) > 0 && (!strings.HasPrefix(st.Artifacts[0].Name, "f0000-") || st.Artifacts[0].ContentType != contentType) {
		t.Errorf("first listed artifact = %+v", st.Artifacts[0])
	}
}

// A Run with few artifacts lists them all, counted, with no pointer.
func TestRunStatusListsFewArtifacts(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("few", "w", "")
	job := jobName("few", "a", 1)
	h.waitJobs("few", job)
	h.finishJob("few", job, 0, `{"ok":true}`)
	st := h.waitPhase("few", aiasv1alpha1.RunSucceeded).Status
	if st.ArtifactCount != 1 || len(st.Artifacts) != 1 || st.ArtifactsURL != "" {
		t.Errorf("artifacts %+v, count %d, url %q; want the result alone, counted, no url", st.Artifacts, st.ArtifactCount, st.ArtifactsURL)
	}
}
