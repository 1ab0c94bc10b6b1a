package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/aias-dev/aias/internal/testrig/browsertest"
	"github.com/aias-dev/aias/internal/userapi"
)

// `aias deliveries <endpoint>` shows the endpoint's delivery log: a delivery sent with
// `aias trigger` is there with outcome created and its Run, and the table names it.
func TestCLIDeliveries(t *testing.T) {
	trigger(t, "e2e-deliveries-1")
	// The sample endpoint's filter admits pushes to main only.
	if out := triggerData(t, "e2e-deliveries-dev", `{"ref":"refs/heads/dev","commits":1}`); !strings.Contains(out, "filtered") {
		t.Errorf("a push to dev: %s", out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var list userapi.DeliveryList
		if err := json.Unmarshal([]byte(aias(t, "deliveries", "github-push", "-n", "acme", "-o", "json")), &list); err != nil {
			t.Fatal(err)
		}
		var hit *userapi.Delivery
		for i, d := range list.Items {
			if d.DeliveryID == "e2e-deliveries-1" {
				hit = &list.Items[i]
			}
		}
		if hit != nil {
			if hit.Outcome != "created" || hit.Status != 202 || hit.Run == "" || !strings.HasPrefix(hit.Digest, "sha256:") || !hit.Verified || !hit.Redeliverable {
				t.Errorf("logged delivery %+v", *hit)
			}
			if run := strings.TrimSpace(aias(t, "redeliver", "github-push", hit.ID, "-n", "acme")); !strings.HasPrefix(run, "github-push-redelivery-") {
				t.Errorf("aias redeliver printed %q", run)
			}
			// The endpoint's params put branch=main into the Run, and the step read it.
			run := waitRunPhase(t, "acme", hit.Run, "Succeeded", 3*time.Minute)
			if run.Spec.Params["branch"] != "main" {
				t.Errorf("run params %v", run.Spec.Params)
			}
			if out := aias(t, "logs", hit.Run, "-n", "acme", "--step", "summarize"); !strings.Contains(out, "on main") {
				t.Errorf("summarize printed %q", out)
			}
			filtered := false
			for _, d := range list.Items {
				filtered = filtered || d.DeliveryID == "e2e-deliveries-dev" && d.Outcome == "filtered" && d.Run == ""
			}
			if !filtered {
				t.Errorf("the dev push is not logged as filtered: %+v", list.Items)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the delivery is not in the log: %+v", list.Items)
		}
		time.Sleep(200 * time.Millisecond)
	}
	table := aias(t, "deliveries", "github-push", "-n", "acme")
	if !strings.Contains(table, "OUTCOME") || !strings.Contains(table, "e2e-deliveries-1") || !strings.Contains(table, "created") {
		t.Errorf("deliveries table:\n%s", table)
	}
}

func trigger(t *testing.T, deliveryID string) {
	t.Helper()
	triggerData(t, deliveryID, `{"ref":"refs/heads/main","commits":1}`)
}

func triggerData(t *testing.T, deliveryID, data string) string {
	t.Helper()
	cmd := exec.Command(stack.Aias, "trigger", "github-push", "-n", "acme", "--delivery-id", deliveryID, "--data", data)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+stack.Kubeconfig)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("aias trigger: %v\n%s", err, out)
	}
	return string(out)
}

// The console's delivery log page of an endpoint lists a delivery with its outcome and
// a link to its Run.
func TestBrowserDeliveries(t *testing.T) {
	trigger(t, "e2e-deliveries-browser")
	ctx, b := openConsole(t, "")
	b.do("open the endpoints page", chromedp.Navigate(stack.UserURL+"#/ns/acme/endpoints"))
	link := `#endpoints tr[data-endpoint="github-push"] a.deliveries`
	b.waitJS("the deliveries link", `!!document.querySelector('`+link+`')`, 0)
	row := `#deliveries tr[data-delivery="e2e-deliveries-browser"]`
	// The log is written a moment after the answer: reload until the row shows.
	deadline := time.Now().Add(30 * time.Second)
	for {
		b.do("open github-push's deliveries", chromedp.Navigate(stack.UserURL+"#/ns/acme/endpoints"), chromedp.Click(chromedp.CSS(link)))
		b.waitJS("the deliveries table", `!!document.querySelector('#deliveries tbody tr')`, 0)
		if b.eval(`String(!!document.querySelector('`+row+`'))`) == "true" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the delivery never showed in the console's log")
		}
		time.Sleep(300 * time.Millisecond)
	}
	if got := b.eval(`document.querySelector('` + row + `').dataset.outcome`); got != "created" {
		t.Errorf("outcome %q, want created", got)
	}
	if href := b.eval(`document.querySelector('` + row + ` a').getAttribute('href')`); !strings.HasPrefix(href, "#/ns/acme/runs/github-push-") {
		t.Errorf("run link %q", href)
	}
	browsertest.Screenshot(t, ctx, "08-deliveries")

	// Redeliver it: a new Run with trigger Redelivery, and the console moves to it.
	b.do("redeliver", chromedp.Click(chromedp.CSS(row+" button.redeliver")))
	b.waitJS("the redelivered run's page", `location.hash.startsWith('#/ns/acme/runs/github-push-redelivery-') && !!document.querySelector('#run-name')`, 0)
	name := b.text("#run-name")
	run := waitRunPhase(t, "acme", name, "Succeeded", 3*time.Minute)
	if run.Spec.Trigger == nil || run.Spec.Trigger.Type != "Redelivery" || run.Spec.Trigger.DeliveryID != "e2e-deliveries-browser" {
		t.Errorf("redelivered run %s trigger %+v", name, run.Spec.Trigger)
	}
}
