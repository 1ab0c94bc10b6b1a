package e2e

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/webhookserver"
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
		var list webhookserver.RunList
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
