package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/testrig/browsertest"
)

// TestBrowserStartRun starts a run from the Workflows page's Run form: the form is
// generated from the sample workflow's params (the enum as a select with its default
// chosen), the Run it starts carries the chosen value, runs to Succeeded, and its
// summarize step printed it.
func TestBrowserStartRun(t *testing.T) {
	ctx, b := openConsole(t, "")
	b.do("open the workflows page", chromedp.Navigate(stack.UserURL+"#/ns/"+sampleNS+"/workflows"))
	start := `#workflows tr[data-workflow="release-notes"] button.start`
	b.waitJS("the Run button", `!!document.querySelector('`+start+`')`, 0)
	b.do("open the Run form", chromedp.Click(chromedp.CSS(start)))
	b.waitJS("the form's audience select", `!!document.querySelector('#start-run select#param-audience')`, 0)
	if got := b.eval(`document.querySelector('#param-audience').value`); got != "users" {
		t.Errorf("audience preselected %q, want the default users", got)
	}
	if got := b.eval(`Array.from(document.querySelectorAll('#param-audience option')).map(o => o.value).join(',')`); got != "users,developers" {
		t.Errorf("audience options %q", got)
	}
	browsertest.Screenshot(t, ctx, "07-start-run-form")
	b.do("choose developers and start",
		chromedp.SetValue(chromedp.CSS("#param-audience"), "developers"),
		chromedp.Click(chromedp.CSS("#start-run-submit")))
	b.waitJS("the new run's page", `location.hash.startsWith('#/ns/acme/runs/release-notes-manual-') && !!document.querySelector('#run-name')`, 0)
	name := b.text("#run-name")
	// …and in the runs list.
	b.do("open the runs list", chromedp.Navigate(stack.UserURL+"#/ns/"+sampleNS+"/runs"))
	b.waitJS("the new run in the list", `!!document.querySelector('table#runs tbody tr[data-run="`+name+`"]')`, 0)
	run := waitRunPhase(t, sampleNS, name, aiasv1alpha1.RunSucceeded, 3*time.Minute)
	if run.Spec.Params["audience"] != "developers" || run.Spec.Trigger == nil || run.Spec.Trigger.Type != aiasv1alpha1.TriggerManual {
		t.Errorf("run %s spec %+v", name, run.Spec)
	}
	out := aias(t, "logs", name, "-n", sampleNS, "--step", "summarize")
	if !strings.Contains(out, "for developers") {
		t.Errorf("summarize printed %q, want the chosen audience", out)
	}
	_ = stack.Client.Delete(context.Background(), run, client.PropagationPolicy("Background"))
}

// `aias run start` starts a manual Run with parameters and prints its name; the same
// --idempotency-key finds the same Run; a value outside the enum fails naming it.
func TestCLIRunStart(t *testing.T) {
	first := strings.TrimSpace(aias(t, "run", "start", "release-notes", "-n", sampleNS, "-p", "audience=developers", "--idempotency-key", "cli-start-1"))
	again := strings.TrimSpace(aias(t, "run", "start", "workflow/release-notes", "-n", sampleNS, "-p", "audience=developers", "--idempotency-key", "cli-start-1"))
	if first == "" || first != again {
		t.Errorf("run start printed %q, then %q for the same key", first, again)
	}
	run := waitRunPhase(t, sampleNS, first, aiasv1alpha1.RunSucceeded, 3*time.Minute)
	if run.Spec.Params["audience"] != "developers" {
		t.Errorf("params %v", run.Spec.Params)
	}
	res := runCLI(t, stack.Aias, cliEnv(), "run", "start", "release-notes", "-n", sampleNS, "-p", "audience=robots")
	if res.code == 0 || !strings.Contains(res.stderr, `parameter "audience" is "robots"`) {
		t.Errorf("bad value: %s", res)
	}
	_ = stack.Client.Delete(context.Background(), run, client.PropagationPolicy("Background"))
}
