package stepapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/steptoken"
	"github.com/aias-dev/aias/internal/store"
	"github.com/aias-dev/aias/webhookserver/internal/servertest"
)

// Re-uploading under one name within the plan's artifactBytesPerRun replaces the content:
// the store keeps only the last one, so what is stored never exceeds the cap however
// often a step re-uploads.
func TestInternalAPIReuploadStaysWithinTheRunCap(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "reupload", UID: servertest.FreshUID()}
	artifactCap := int64(10)
	if err := testStore.SetRunLimits(context.Background(), run.UID, store.RunLimits{ArtifactBytes: &artifactCap}); err != nil {
		t.Fatal(err)
	}
	at := newAttempt(t, iss, run, "build", 1)
	var digests []string
	for i := range 5 {
		body := fmt.Sprintf("%s-%d", run.UID[:8], i) // 10 bytes, new content each time
		code, resp := at.call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+"out", "text/plain", body)
		if code != http.StatusCreated {
			t.Fatalf("upload %d: %d %v", i, code, resp)
		}
		digests = append(digests, resp["digest"].(string))
	}
	for i, d := range digests {
		_, _, err := testStore.OpenBlob(context.Background(), d)
		if last := i == len(digests)-1; last != (err == nil) || (!last && !errors.Is(err, store.ErrNotFound)) {
			t.Errorf("upload %d's content: %v (the last one alone should be stored)", i, err)
		}
	}
}

// An attempt stores at most MaxArtifactsPerAttempt artifacts (replacing one adds none) and
// content types of at most MaxContentTypeLength bytes that parse as media types; the
// refusals name the cap and store nothing.
func TestInternalAPIArtifactCaps(t *testing.T) {
	srv, iss := newInternalAPI(t)
	run := steptoken.Run{Namespace: "acme", Name: "many", UID: servertest.FreshUID()}
	at := newAttempt(t, iss, run, "build", 1)
	put := func(name, contentType, body string) (int, map[string]any) {
		return at.call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+name, contentType, body)
	}
	for i := range MaxArtifactsPerAttempt {
		if code, resp := put(fmt.Sprintf("f%03d", i), "text/plain", "x"); code != http.StatusCreated {
			t.Fatalf("artifact %d: %d %v", i, code, resp)
		}
	}
	code, resp := put("one-too-many", "text/plain", "x")
	if code != http.StatusRequestEntityTooLarge || resp["reason"] != "TooManyArtifacts" || !strings.Contains(fmt.Sprint(resp["error"]), fmt.Sprint(MaxArtifactsPerAttempt)) {
		t.Errorf("artifact %d: %d %v, want 413 TooManyArtifacts naming the cap", MaxArtifactsPerAttempt+1, code, resp)
	}
	if code, resp := put("f000", "text/plain", "again"); code != http.StatusCreated {
		t.Errorf("replacing an artifact at the cap: %d %v", code, resp)
	}
	next := newAttempt(t, iss, run, "build", 2)
	if code, resp := next.call(t, srv.URL, http.MethodPut, stepjob.PathArtifacts+"first", "text/plain", "x"); code != http.StatusCreated {
		t.Errorf("the next attempt's first artifact: %d %v", code, resp)
	}

	for _, tc := range []struct{ name, contentType, reason string }{
		{"long", "text/plain; x=" + strings.Repeat("y", aiasv1alpha1.MaxContentTypeLength), "ContentTypeTooLong"},
		{"not a media type", "text/", "BadContentType"},
	} {
		code, resp := put("f001", tc.contentType, "changed")
		if code != http.StatusBadRequest || resp["reason"] != tc.reason {
			t.Errorf("%s content type: %d %v, want 400 %s", tc.name, code, resp, tc.reason)
		}
	}
	if code, resp := put("f001", "text/plain; x="+strings.Repeat("y", aiasv1alpha1.MaxContentTypeLength-len("text/plain; x=")), "ok"); code != http.StatusCreated {
		t.Errorf("content type of exactly %d bytes: %d %v", aiasv1alpha1.MaxContentTypeLength, code, resp)
	}
	arts, err := testStore.ListArtifacts(context.Background(), run.UID)
	if err != nil || len(arts) != MaxArtifactsPerAttempt+1 {
		t.Errorf("stored %d artifacts (%v), want %d", len(arts), err, MaxArtifactsPerAttempt+1)
	}
}
