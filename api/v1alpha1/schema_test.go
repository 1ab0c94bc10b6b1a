package v1alpha1_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// manifest builds an aias.dev/v1alpha1 object from a kind, a name and its spec in YAML.
// Cluster-scoped kinds (Plan, Tenant) get no namespace.
func manifest(t *testing.T, kind, name, spec string) *unstructured.Unstructured {
	t.Helper()
	ns := ""
	if kind != "Plan" && kind != "Tenant" {
		ns = "namespace: " + testNamespace
	}
	doc := fmt.Sprintf("apiVersion: aias.dev/v1alpha1\nkind: %s\nmetadata:\n  name: %s\n  %s\nspec:\n%s",
		kind, name, ns, indent(spec, "  "))
	u := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
		t.Fatalf("test manifest does not parse: %v\n%s", err, doc)
	}
	return u
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// Minimal valid specs that the invalid cases below break one field at a time.
const (
	validStep     = "- name: build\n  image: busybox\n  command: [sh, -c, 'echo {}']\n"
	validWorkflow = "steps:\n" + "  - name: build\n    image: busybox\n    command: [sh, -c, 'echo {}']\n"
)

// TestInvalidManifestsAreRejected is the schema's contract: each manifest is refused by
// the apiserver itself (no controller or webhook running), with an error naming the field.
func TestInvalidManifestsAreRejected(t *testing.T) {
	tests := []struct {
		name, kind, spec string
		objName          string // defaults to a name derived from the case
		wantField        string // must appear in the error
		wantMsg          string // optional, must appear in the error
	}{
		// Plan
		{name: "plan negative workflows", kind: "Plan", spec: "limits:\n  workflows: -1\n", wantField: "spec.limits.workflows"},
		{name: "plan negative runs per month", kind: "Plan", spec: "limits:\n  runsPerMonth: -5\n", wantField: "spec.limits.runsPerMonth"},
		{name: "plan negative artifact bytes", kind: "Plan", spec: "limits:\n  artifactBytesPerRun: -1\n", wantField: "spec.limits.artifactBytesPerRun"},
		{name: "plan too many steps per workflow", kind: "Plan", spec: "limits:\n  stepsPerWorkflow: 65\n", wantField: "spec.limits.stepsPerWorkflow"},
		{name: "plan step timeout in words", kind: "Plan", spec: "limits:\n  maxStepTimeout: 5 minutes\n", wantField: "spec.limits.maxStepTimeout"},
		{name: "plan zero step timeout", kind: "Plan", spec: "limits:\n  maxStepTimeout: 0s\n", wantField: "spec.limits.maxStepTimeout", wantMsg: "positive"},
		{name: "plan stripe product instead of price", kind: "Plan", spec: "limits: {}\nstripePriceIDs: [prod_123]\n", wantField: "spec.stripePriceIDs[0]"},
		{name: "plan without limits", kind: "Plan", spec: "displayName: Free\n", wantField: "spec.limits"},

		// Tenant
		{name: "tenant name not a DNS label", kind: "Tenant", objName: "acme.corp", spec: "plan: free\n", wantField: "metadata.name"},
		{name: "tenant unknown member kind", kind: "Tenant", spec: "members:\n- {kind: Robot, name: r2, role: viewer}\n", wantField: "spec.members[0].kind"},
		{name: "tenant unknown member role", kind: "Tenant", spec: "members:\n- {kind: User, name: alice, role: superuser}\n", wantField: "spec.members[0].role"},
		{name: "tenant duplicate member", kind: "Tenant", spec: "members:\n- {kind: User, name: alice, role: viewer}\n- {kind: User, name: alice, role: owner}\n", wantField: "spec.members", wantMsg: "only once"},
		{name: "tenant namespace on a user member", kind: "Tenant", spec: "members:\n- {kind: User, name: alice, namespace: ci, role: viewer}\n", wantField: "spec.members[0]", wantMsg: "ServiceAccount"},
		{name: "tenant bad stripe customer", kind: "Tenant", spec: "billing:\n  stripeCustomerID: acme\n", wantField: "spec.billing.stripeCustomerID"},
		{name: "tenant unknown deletion policy", kind: "Tenant", spec: "deletionPolicy: Destroy\n", wantField: "spec.deletionPolicy"},
		{name: "tenant bad plan name", kind: "Tenant", spec: "plan: Pro_Plan\n", wantField: "spec.plan"},

		// Workflow
		{name: "workflow no steps", kind: "Workflow", spec: "steps: []\n", wantField: "spec.steps"},
		{name: "workflow step name not a DNS label", kind: "Workflow", spec: "steps:\n- name: Build_It\n  image: busybox\n  command: [\"true\"]\n", wantField: "spec.steps[0].name"},
		{name: "workflow duplicate step names", kind: "Workflow", spec: "steps:\n" + indent(validStep+validStep, ""), wantField: "spec.steps", wantMsg: "unique"},
		{name: "workflow dependsOn a later step", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], dependsOn: [b]}\n- {name: b, image: busybox, command: [\"true\"]}\n", wantField: "spec.steps", wantMsg: "earlier steps"},
		{name: "workflow dependsOn cycle", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], dependsOn: [b]}\n- {name: b, image: busybox, command: [\"true\"], dependsOn: [a]}\n", wantField: "spec.steps", wantMsg: "earlier steps"},
		{name: "workflow dependsOn itself", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], dependsOn: [a]}\n", wantField: "spec.steps", wantMsg: "earlier steps"},
		{name: "approval gate with a container", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], approval: {message: proceed}}\n", wantField: "spec.steps[0].approval", wantMsg: "an approval gate runs no container"},
		{name: "approval with an unknown onTimeout", kind: "Workflow", spec: "steps:\n- {name: a, approval: {onTimeout: Maybe}}\n", wantField: "spec.steps[0].approval.onTimeout", wantMsg: "Unsupported value"},
		{name: "approval timeout over 720h", kind: "Workflow", spec: "steps:\n- {name: a, approval: {timeout: 1000h}}\n", wantField: "spec.steps[0].approval.timeout", wantMsg: "between 1s and 720h"},
		{name: "parallelism without forEach", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], parallelism: 2}\n", wantField: "spec.steps[0]", wantMsg: "parallelism applies to forEach steps only"},
		{name: "continueOnItemFailure without forEach", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], continueOnItemFailure: true}\n", wantField: "spec.steps[0]", wantMsg: "continueOnItemFailure applies to forEach steps only"},
		{name: "workflow step with depends and dependsOn", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"]}\n- {name: b, image: busybox, command: [\"true\"], dependsOn: [a], depends: a}\n", wantField: "spec.steps[1]", wantMsg: "set depends or dependsOn, not both"},
		{name: "workflow when too long", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], when: \"" + strings.Repeat("x", 4097) + "\"}\n", wantField: "spec.steps[0].when", wantMsg: "4096"},
		{name: "workflow finally step named as a step", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"]}\nfinally:\n- {name: a, image: busybox, command: [\"true\"]}\n", wantField: "spec", wantMsg: "a finally step may not share a name with a step"},
		{name: "workflow finally dependsOn a later finally step", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"]}\nfinally:\n- {name: f, image: busybox, command: [\"true\"], dependsOn: [g]}\n- {name: g, image: busybox, command: [\"true\"]}\n", wantField: "spec.finally", wantMsg: "may only name earlier finally steps"},
		{name: "workflow dependsOn unknown step", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"]}\n- {name: b, image: busybox, command: [\"true\"], dependsOn: [c]}\n", wantField: "spec.steps", wantMsg: "must name steps of this workflow"},
		{name: "workflow step without command", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox}\n", wantField: "spec.steps[0].command"},
		{name: "workflow step without image", kind: "Workflow", spec: "steps:\n- {name: a, command: [\"true\"]}\n", wantField: "spec.steps[0].image"},
		{name: "workflow step timeout in words", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], timeout: ten minutes}\n", wantField: "spec.steps[0].timeout"},
		{name: "workflow negative retries", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], retries: {limit: -1}}\n", wantField: "spec.steps[0].retries.limit"},
		{name: "workflow backoff factor zero", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], retries: {limit: 2, backoff: {factor: 0}}}\n", wantField: "spec.steps[0].retries.backoff.factor"},
		{name: "workflow reserved env name", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], env: [{name: AIAS_TOKEN, value: x}]}\n", wantField: "spec.steps[0].env", wantMsg: "reserved"},
		{name: "workflow volume with two sources", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], volumes: [{name: v, emptyDir: {}, configMap: {name: c}}]}\n", wantField: "spec.steps[0].volumes[0]", wantMsg: "exactly one of configMap, secret, emptyDir and ephemeral"},
		{name: "workflow hostPath volume", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], volumes: [{name: v, hostPath: {path: /etc}}]}\n", wantField: "spec.steps[0].volumes[0].hostPath", wantMsg: "unknown field"},
		{name: "workflow volume named aias-", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], volumes: [{name: aias-bin, emptyDir: {}}]}\n", wantField: "spec.steps[0].volumes[0].name", wantMsg: "step runtime"},
		{name: "workflow mount over the step runtime", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], volumeMounts: [{name: v, mountPath: /aias/bin}]}\n", wantField: "spec.steps[0].volumeMounts", wantMsg: "not at or under /aias"},
		{name: "workflow retry on an unknown reason", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], retries: {limit: 1, retryOn: {reasons: [Flaky]}}}\n", wantField: "spec.steps[0].retries.retryOn.reasons[0]", wantMsg: "Unsupported value"},
		{name: "workflow image pull timeout in words", kind: "Workflow", spec: "steps:\n- {name: a, image: busybox, command: [\"true\"], imagePullTimeout: two minutes}\n", wantField: "spec.steps[0].imagePullTimeout"},
		{name: "workflow unknown concurrency policy", kind: "Workflow", spec: validWorkflow + "concurrency: {policy: Parallel}\n", wantField: "spec.concurrency.policy"},
		{name: "workflow max with Allow", kind: "Workflow", spec: validWorkflow + "concurrency: {policy: Allow, max: 3}\n", wantField: "spec.concurrency", wantMsg: "Forbid and Queue"},
		{name: "workflow negative history", kind: "Workflow", spec: validWorkflow + "history: {succeeded: -1}\n", wantField: "spec.history.succeeded"},
		{name: "workflow bad service account", kind: "Workflow", spec: validWorkflow + "serviceAccountName: Robot!\n", wantField: "spec.serviceAccountName"},
		{name: "workflow run timeout too short", kind: "Workflow", spec: validWorkflow + "timeout: 10ms\n", wantField: "spec.timeout", wantMsg: "at least 1s"},
		{name: "workflow too many steps", kind: "Workflow", spec: "steps:\n" + manySteps(65), wantField: "spec.steps"},

		// WebhookEndpoint
		{name: "endpoint unknown scheme", kind: "WebhookEndpoint", spec: "workflowRef: {name: build}\nverification: {scheme: Svix}\n", wantField: "spec.verification.scheme"},
		{name: "endpoint stripe without secret", kind: "WebhookEndpoint", spec: "workflowRef: {name: build}\nverification: {scheme: Stripe}\n", wantField: "spec.verification", wantMsg: "secretRef is required"},
		{name: "endpoint hmac without settings", kind: "WebhookEndpoint", spec: "workflowRef: {name: build}\nverification: {scheme: HMAC}\n", wantField: "spec.verification", wantMsg: "hmac must be set"},
		{name: "endpoint hmac settings on github", kind: "WebhookEndpoint", spec: "workflowRef: {name: build}\nverification: {scheme: GitHub, hmac: {header: X-Sig}}\n", wantField: "spec.verification", wantMsg: "hmac must be set"},
		{name: "endpoint delivery header on github", kind: "WebhookEndpoint", spec: "workflowRef: {name: build}\nverification: {scheme: GitHub, deliveryIDHeader: X-Id}\n", wantField: "spec.verification", wantMsg: "deliveryIDHeader"},
		{name: "endpoint cross-namespace workflow", kind: "WebhookEndpoint", spec: "workflowRef: {name: build, namespace: other}\n", wantField: "spec.workflowRef", wantMsg: "cross-namespace"},
		{name: "endpoint without workflow", kind: "WebhookEndpoint", spec: "suspend: true\n", wantField: "spec.workflowRef"},
		{name: "endpoint zero max body", kind: "WebhookEndpoint", spec: "workflowRef: {name: build}\nmaxBodyBytes: 0\n", wantField: "spec.maxBodyBytes"},
		{name: "endpoint max body over 32Mi", kind: "WebhookEndpoint", spec: "workflowRef: {name: build}\nmaxBodyBytes: 33554433\n", wantField: "spec.maxBodyBytes"},
		{name: "endpoint tolerance too long", kind: "WebhookEndpoint", spec: "workflowRef: {name: build}\nverification: {tolerance: 48h}\n", wantField: "spec.verification.tolerance", wantMsg: "between 1s and 24h"},
		{name: "endpoint zero rate", kind: "WebhookEndpoint", spec: "workflowRef: {name: build}\nrateLimit: {requestsPerMinute: 0}\n", wantField: "spec.rateLimit.requestsPerMinute"},

		// Run
		{name: "run oversized inline input", kind: "Run", spec: "workflowRef: {name: build}\ninput: '" + strings.Repeat("x", aiasv1alpha1.MaxInlineInputLength+1) + "'\n", wantField: "spec.input"},
		{name: "run input and inputRef", kind: "Run", spec: "workflowRef: {name: build}\ninput: '{}'\ninputRef: {digest: 'sha256:" + strings.Repeat("a", 64) + "'}\n", wantField: "spec", wantMsg: "not both"},
		{name: "run inputRef bad digest", kind: "Run", spec: "workflowRef: {name: build}\ninputRef: {digest: 'md5:abc'}\n", wantField: "spec.inputRef.digest"},
		{name: "run unknown trigger", kind: "Run", spec: "workflowRef: {name: build}\ntrigger: {type: Cron}\n", wantField: "spec.trigger.type"},
		{name: "run webhook trigger without delivery", kind: "Run", spec: "workflowRef: {name: build}\ntrigger: {type: Webhook, endpoint: github}\n", wantField: "spec.trigger", wantMsg: "deliveryID"},
		{name: "run replayOf without replay trigger", kind: "Run", spec: "workflowRef: {name: build}\nreplayOf: run-1\n", wantField: "spec", wantMsg: "replayOf"},
		{name: "run replay trigger without replayOf", kind: "Run", spec: "workflowRef: {name: build}\ntrigger: {type: Replay}\n", wantField: "spec", wantMsg: "replayOf"},
		{name: "run without workflow", kind: "Run", spec: "input: '{}'\n", wantField: "spec.workflowRef"},
		{name: "run cross-namespace workflow", kind: "Run", spec: "workflowRef: {name: build, namespace: other}\n", wantField: "spec.workflowRef", wantMsg: "cross-namespace"},
	}
	if len(tests) < 25 {
		t.Fatalf("the contract asks for at least 25 invalid manifests, have %d", len(tests))
	}
	ctx := context.Background()
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.objName
			if name == "" {
				name = fmt.Sprintf("invalid-%d", i)
			}
			obj := manifest(t, tc.kind, name, tc.spec)
			err := env.Client.Create(ctx, obj, client.FieldValidation("Strict"))
			if err == nil {
				_ = env.Client.Delete(ctx, obj)
				t.Fatalf("%s was accepted; want it rejected naming %s", tc.kind, tc.wantField)
			}
			if !apierrors.IsInvalid(err) && !apierrors.IsBadRequest(err) {
				t.Fatalf("want an Invalid error, got %v", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantField) {
				t.Errorf("error does not name %q:\n%s", tc.wantField, msg)
			}
			if tc.wantMsg != "" && !strings.Contains(msg, tc.wantMsg) {
				t.Errorf("error does not say %q:\n%s", tc.wantMsg, msg)
			}
		})
	}
}

func manySteps(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "- {name: s%d, image: busybox, command: [\"true\"]}\n", i)
	}
	return b.String()
}
