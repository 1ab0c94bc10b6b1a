package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// Paging a Run's artifacts along (step, attempt, name) lists each once, in ListArtifacts'
// order, and only the Run's.
func TestListArtifactsAfter(t *testing.T) {
	ctx := context.Background()
	uid, other := newUID(t), newUID(t)
	for _, run := range []string{uid, other} {
		for _, step := range []string{"b", "a"} {
			for attempt := 1; attempt <= 2; attempt++ {
				for i := range 4 {
					if _, err := testStore.PutArtifact(ctx, ArtifactKey{Namespace: "acme", RunName: "r", RunUID: run, Step: step, Attempt: attempt, Name: fmt.Sprint("f", i)},
						"text/plain", strings.NewReader(fmt.Sprint(run, step, attempt, i)), 0, ""); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
	want, err := testStore.ListArtifacts(ctx, uid)
	if err != nil || len(want) != 16 {
		t.Fatalf("ListArtifacts: %d, %v", len(want), err)
	}
	var got []Artifact
	var after *Artifact
	for {
		page, err := testStore.ListArtifactsAfter(ctx, uid, after, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d", len(page))
		}
		if len(page) == 0 {
			break
		}
		got = append(got, page...)
		after = &page[len(page)-1]
	}
	if len(got) != len(want) {
		t.Fatalf("paged %d artifacts, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Step != want[i].Step || got[i].Attempt != want[i].Attempt || got[i].Name != want[i].Name || got[i].RunUID != uid {
			t.Errorf("artifact %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}
