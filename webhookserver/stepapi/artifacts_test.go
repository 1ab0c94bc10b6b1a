package stepapi

import (
	"context"
	"encoding/json"
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

func put(t *testing.T, url, token, contentType, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPut, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	return doReq(t, req)
}

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
	url := srv.URL + stepjob.AttemptPath("acme", "reupload", "build", 1) + stepjob.PathArtifacts + "out"
	var digests []string
	for i := range 5 {
		body := fmt.Sprintf("%s-%d", run.UID[:8], i) // 10 bytes, new content each time
		code, resp := put(t, url, tok(iss, run), "text/plain", body)
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
	base := srv.URL + stepjob.AttemptPath("acme", "many", "build", 1) + stepjob.PathArtifacts
	for i := range MaxArtifactsPerAttempt {
		if code, resp := put(t, fmt.Sprintf("%sf%03d", base, i), tok(iss, run), "text/plain", "x"); code != http.StatusCreated {
			t.Fatalf("artifact %d: %d %v", i, code, resp)
		}
	}
	code, resp := put(t, base+"one-too-many", tok(iss, run), "text/plain", "x")
	if code != http.StatusRequestEntityTooLarge || resp["reason"] != "TooManyArtifacts" || !strings.Contains(fmt.Sprint(resp["error"]), fmt.Sprint(MaxArtifactsPerAttempt)) {
		t.Errorf("artifact %d: %d %v, want 413 TooManyArtifacts naming the cap", MaxArtifactsPerAttempt+1, code, resp)
	}
	if code, resp := put(t, base+"f000", tok(iss, run), "text/plain", "again"); code != http.StatusCreated {
		t.Errorf("replacing an artifact at the cap: %d %v", code, resp)
	}
	next := srv.URL + stepjob.AttemptPath("acme", "many", "build", 2) + stepjob.PathArtifacts + "first"
	if code, resp := put(t, next, tok(iss, run), "text/plain", "x"); code != http.StatusCreated {
		t.Errorf("the next attempt's first artifact: %d %v", code, resp)
	}

	for _, tc := range []struct{ name, contentType, reason string }{
		{"long", "text/plain; x=" + strings.Repeat("y", aiasv1alpha1.MaxContentTypeLength), "ContentTypeTooLong"},
		{"not a media type", "text/", "BadContentType"},
	} {
		code, resp := put(t, base+"f001", tok(iss, run), tc.contentType, "changed")
		if code != http.StatusBadRequest || resp["reason"] != tc.reason {
			t.Errorf("%s content type: %d %v, want 400 %s", tc.name, code, resp, tc.reason)
		}
	}
	if code, resp := put(t, base+"f001", tok(iss, run), "text/plain; x="+strings.Repeat("y", aiasv1alpha1.MaxContentTypeLength-len("text/plain; x=")), "ok"); code != http.StatusCreated {
		t.Errorf("content type of exactly %d bytes: %d %v", aiasv1alpha1.MaxContentTypeLength, code, resp)
	}
	arts, err := testStore.ListArtifacts(context.Background(), run.UID)
	if err != nil || len(arts) != MaxArtifactsPerAttempt+1 {
		t.Errorf("stored %d artifacts (%v), want %d", len(arts), err, MaxArtifactsPerAttempt+1)
	}
}

func doReq(t *testing.T, req *http.Request) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}
