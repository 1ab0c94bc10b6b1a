package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"

	"github.com/aias-dev/aias/internal/userapi"
)

// The token `aias dev` prints reads the sample tenant's runs through the user API: the
// Tenant controller bound acme/ci as editor, the API authorizes it, and the run index
// holds the sample Run with the status the engine gave it.
func TestDevTokenListsSampleRun(t *testing.T) {
	waitRunPhase(t, "acme", "release-notes-manual-1", aiasv1alpha1.RunSucceeded, 2*time.Minute)
	deadline := time.Now().Add(30 * time.Second)
	for {
		req, _ := http.NewRequest("GET", stack.UserURL+"/api/v1/namespaces/acme/runs?workflow=release-notes", nil)
		req.Header.Set("Authorization", "Bearer "+stack.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var list userapi.RunList
		_ = json.NewDecoder(resp.Body).Decode(&list)
		resp.Body.Close()
		if resp.StatusCode == 200 {
			for _, r := range list.Items {
				if r.Name == "release-notes-manual-1" && r.Phase == "Succeeded" {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("runs list: %d %+v", resp.StatusCode, list)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// The whole path a tenant relies on: a signed webhook delivered with `aias trigger`
// through the public listener becomes a Run that runs to Succeeded, and the user API
// finds it by its endpoint, with its trigger, delivery id and outputs.
func TestWebhookDeliveryShowsInRunsList(t *testing.T) {
	waitRunPhase(t, "acme", "release-notes-manual-1", aiasv1alpha1.RunSucceeded, 2*time.Minute)
	cmd := exec.Command(stack.Aias, "trigger", "github-push", "-n", "acme", "--delivery-id", "e2e-delivery-1",
		"--data", `{"ref":"refs/heads/main","commits":4}`)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+stack.Kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aias trigger: %v\n%s", err, out)
	}
	get := func(path string, into any) int {
		t.Helper()
		req, _ := http.NewRequest("GET", stack.UserURL+path, nil)
		req.Header.Set("Authorization", "Bearer "+stack.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_ = json.NewDecoder(resp.Body).Decode(into)
		return resp.StatusCode
	}
	var found userapi.RunSummary
	deadline := time.Now().Add(time.Minute)
	for found.Phase != "Succeeded" {
		if time.Now().After(deadline) {
			t.Fatalf("the delivered run never listed as Succeeded under endpoint github-push (last: %+v)", found)
		}
		time.Sleep(300 * time.Millisecond)
		var list userapi.RunList
		if get("/api/v1/namespaces/acme/runs?endpoint=github-push", &list) != 200 {
			continue
		}
		for _, r := range list.Items {
			if r.Trigger == "Webhook" && r.Endpoint == "github-push" {
				found = r
			}
		}
	}
	var d userapi.RunDetail
	if code := get("/api/v1/namespaces/acme/runs/"+found.Name, &d); code != 200 {
		t.Fatalf("detail: %d", code)
	}
	if d.DeliveryID != "e2e-delivery-1" || len(d.Steps) != 3 || len(d.Artifacts) < 3 {
		t.Errorf("detail of the delivered run: delivery %q, %d steps, %d artifacts", d.DeliveryID, len(d.Steps), len(d.Artifacts))
	}
	var preview userapi.Preview
	get("/api/v1/namespaces/acme/runs/"+found.Name+"/artifacts/parse/result/preview", &preview)
	if preview.Kind != "json" || !strings.Contains(preview.Text, `"commits": 4`) {
		t.Errorf("parse result preview %+v, want the delivered payload", preview)
	}
}
