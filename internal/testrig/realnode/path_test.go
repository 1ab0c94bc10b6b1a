package realnode

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
	"github.com/aias-dev/aias/internal/testrig/testenv"
	"github.com/aias-dev/aias/internal/testrig/testenv/fixtures"
	"github.com/aias-dev/aias/internal/userapi"
)

const tenantNS = "acme"

var samplesOnce sync.Once

func samples(t *testing.T) {
	t.Helper()
	var err error
	samplesOnce.Do(func() { err = cluster.ApplySamples(context.Background()) })
	if err != nil {
		t.Fatal(err)
	}
}

func waitRun(t *testing.T, name string, want aiasv1alpha1.RunPhase, timeout time.Duration) *aiasv1alpha1.Run {
	t.Helper()
	run := &aiasv1alpha1.Run{}
	deadline := time.Now().Add(timeout)
	for {
		err := cluster.Env.Client.Get(context.Background(), client.ObjectKey{Namespace: tenantNS, Name: name}, run)
		if err == nil && run.Status.Phase == want {
			return run
		}
		if err == nil && run.Status.Phase.Finished() {
			t.Fatalf("run %s ended %s (%s), want %s\n%s", name, run.Status.Phase, run.Status.Message, want, podsState(tenantNS))
		}
		if time.Now().After(deadline) {
			t.Fatalf("run %s is %q after %s (err %v), want %s\n%s", name, run.Status.Phase, timeout, err, want, podsState(tenantNS))
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// podsState describes namespace ns's Pods (each container's state) and its warning
// events, for a failure message.
func podsState(ns string) string {
	var pods corev1.PodList
	_ = cluster.Env.Client.List(context.Background(), &pods, client.InNamespace(ns))
	var b strings.Builder
	for _, p := range pods.Items {
		fmt.Fprintf(&b, "pod %s %s %s %s\n", p.Name, p.Status.Phase, p.Status.Reason, p.Status.Message)
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			fmt.Fprintf(&b, "  %s %+v\n", cs.Name, cs.State)
		}
	}
	var evs corev1.EventList
	_ = cluster.Env.Client.List(context.Background(), &evs, client.InNamespace(ns))
	for _, e := range evs.Items {
		if e.Type == corev1.EventTypeWarning {
			fmt.Fprintf(&b, "event %s %s: %s %s\n", e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Reason, e.Message)
		}
	}
	return b.String()
}

func serviceURL(t *testing.T, name string) string {
	t.Helper()
	u, err := cluster.ServiceURL(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// tenantToken is a token of ServiceAccount acme/ci, which the sample Tenant makes an
// editor: the user API authenticates it with a TokenReview from inside its pod.
func tenantToken(t *testing.T) string {
	t.Helper()
	token, err := fixtures.ServiceAccountToken(context.Background(), cluster.Env, tenantNS, "ci")
	if err != nil {
		t.Fatal(err)
	}
	return token
}

func userGet(t *testing.T, base, token, path string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// The whole path in real containers: the sample Run and a signed delivery to the hook
// Service each become a Run whose step Pods start from the images built here under Pod
// Security "restricted", fetch their input and upload logs and artifacts to the internal
// API over the pod network; the user API (TokenReview, SubjectAccessReview) shows the Run
// and serves each artifact with the digest in status; deleting the Run garbage-collects
// its Jobs and Pods.
func TestDeliveryRunsInRealContainers(t *testing.T) {
	samples(t)
	ctx := context.Background()

	// The Tenant controller labels its namespace once it reconciles the sample Tenant,
	// which may be a moment after the samples are applied.
	ns := &corev1.Namespace{}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		err := cluster.Env.Client.Get(ctx, client.ObjectKey{Name: tenantNS}, ns)
		if err == nil && ns.Labels["pod-security.kubernetes.io/enforce"] == "restricted" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tenant namespace pod-security enforce label = %q (%v), want restricted", ns.Labels["pod-security.kubernetes.io/enforce"], err)
		}
	}
	waitRun(t, "release-notes-manual-1", aiasv1alpha1.RunSucceeded, 4*time.Minute)

	checkDelivery(t, "realnode-helm", true)
}

// checkDelivery sends a signed delivery to the hook Service and follows it to the end: a
// Run that succeeds in real containers, shown by the user API with its artifacts and
// logs, and garbage-collected with its Jobs and Pods when deleted.
func checkDelivery(t *testing.T, deliveryID string, csiRuntime bool) {
	t.Helper()
	ctx := context.Background()
	hooks := serviceURL(t, "aias-hooks")
	cmd := exec.Command(cluster.Aias, "trigger", "github-push", "-n", tenantNS, "--url", hooks,
		"--delivery-id", deliveryID, "--data", `{"ref":"refs/heads/main","commits":4}`)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+cluster.Kubeconfig)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aias trigger: %v\n%s", err, out)
	}
	var runName string
	deadline := time.Now().Add(time.Minute)
	for runName == "" {
		var runs aiasv1alpha1.RunList
		if err := cluster.Env.Client.List(ctx, &runs, client.InNamespace(tenantNS)); err != nil {
			t.Fatal(err)
		}
		for _, r := range runs.Items {
			if r.Spec.Trigger != nil && r.Spec.Trigger.DeliveryID == deliveryID {
				runName = r.Name
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("no Run for delivery " + deliveryID)
		}
		time.Sleep(200 * time.Millisecond)
	}
	run := waitRun(t, runName, aiasv1alpha1.RunSucceeded, 3*time.Minute)

	var pods corev1.PodList
	if err := cluster.Env.Client.List(ctx, &pods, client.InNamespace(tenantNS), client.MatchingLabels{"aias.dev/run": runName}); err != nil {
		t.Fatal(err)
	}
	if len(pods.Items) != 3 {
		t.Fatalf("%d step pods for run %s, want 3 (parse, count, summarize)", len(pods.Items), runName)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != testenv.NodeName {
			t.Errorf("pod %s ran on %q", p.Name, p.Spec.NodeName)
		}
		// The chart's default: the step runtime is the CSI driver's volume, no init
		// container; config/default's: the init container.
		viaCSI := len(p.Spec.InitContainers) == 0 && p.Spec.Volumes[0].CSI != nil && p.Spec.Volumes[0].CSI.Driver == stepjob.RuntimeDriver
		if viaCSI != csiRuntime {
			t.Errorf("pod %s: init containers %d, runtime volume %+v; want the runtime from the CSI driver: %v", p.Name, len(p.Spec.InitContainers), p.Spec.Volumes[0].VolumeSource, csiRuntime)
		}
		for _, cs := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
			if !strings.HasPrefix(cs.ContainerID, "containerd://") || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0 {
				t.Errorf("pod %s container %s: id %q state %+v", p.Name, cs.Name, cs.ContainerID, cs.State)
			}
		}
	}

	console := serviceURL(t, "aias-console")
	token := tenantToken(t)
	code, body := userGet(t, console, token, "/api/v1/namespaces/"+tenantNS+"/runs/"+runName)
	if code != http.StatusOK {
		t.Fatalf("user API get run: %d %s", code, body)
	}
	var detail userapi.RunDetail
	if err := json.Unmarshal(body, &detail); err != nil {
		t.Fatal(err)
	}
	if detail.Phase != "Succeeded" {
		t.Fatalf("user API run phase %q", detail.Phase)
	}
	if len(run.Status.Artifacts) < 3 {
		t.Fatalf("run status lists %d artifacts, want one result per step: %+v", len(run.Status.Artifacts), run.Status.Artifacts)
	}
	for _, a := range run.Status.Artifacts {
		code, content := userGet(t, console, token, fmt.Sprintf("/api/v1/namespaces/%s/runs/%s/artifacts/%s/%s", tenantNS, runName, a.Step, a.Name))
		if code != http.StatusOK {
			t.Fatalf("artifact %s/%s: %d %s", a.Step, a.Name, code, content)
		}
		sum := sha256.Sum256(content)
		if got := "sha256:" + hex.EncodeToString(sum[:]); got != a.Digest {
			t.Errorf("artifact %s/%s digest %s, status says %s", a.Step, a.Name, got, a.Digest)
		}
		if a.Step == "count" && !strings.Contains(string(content), `"bytes":`) {
			t.Errorf("count's result %q", content)
		}
	}
	code, logs := userGet(t, console, token, "/api/v1/namespaces/"+tenantNS+"/runs/"+runName+"/logs")
	if code != http.StatusOK || !strings.Contains(string(logs), "release notes generated") {
		t.Errorf("run logs: %d %s", code, logs)
	}

	if err := cluster.Env.Client.Delete(ctx, run); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(time.Minute)
	for {
		var jobs batchv1.JobList
		var pods corev1.PodList
		_ = cluster.Env.Client.List(ctx, &jobs, client.InNamespace(tenantNS), client.MatchingLabels{"aias.dev/run": runName})
		_ = cluster.Env.Client.List(ctx, &pods, client.InNamespace(tenantNS), client.MatchingLabels{"aias.dev/run": runName})
		// The Run itself goes once the manager has removed its finalizer, which the
		// finalizer policy allows its ServiceAccount alone.
		gone := apierrors.IsNotFound(cluster.Env.Client.Get(ctx, client.ObjectKeyFromObject(run), &aiasv1alpha1.Run{}))
		if len(jobs.Items) == 0 && len(pods.Items) == 0 && gone {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a minute after deleting run %s: %d jobs, %d pods remain, run gone %v", runName, len(jobs.Items), len(pods.Items), gone)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// A step past its timeout is killed by the kubelet (the Pod's activeDeadlineSeconds),
// and the Run fails saying so.
func TestStepTimeoutKilledByTheKubelet(t *testing.T) {
	samples(t)
	ctx := context.Background()
	wf := &aiasv1alpha1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Namespace: tenantNS, Name: "sleepy"},
		Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{{
			Name: "nap", Image: BusyboxImage, Command: []string{"sleep", "600"},
			Timeout: &metav1.Duration{Duration: 3 * time.Second},
		}}},
	}
	if err := cluster.Env.Client.Create(ctx, wf); err != nil {
		t.Fatal(err)
	}
	run := &aiasv1alpha1.Run{
		ObjectMeta: metav1.ObjectMeta{Namespace: tenantNS, Name: "sleepy-1"},
		Spec:       aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: "sleepy"}, Trigger: &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerManual}},
	}
	if err := cluster.Env.Client.Create(ctx, run); err != nil {
		t.Fatal(err)
	}
	run = waitRun(t, "sleepy-1", aiasv1alpha1.RunFailed, 3*time.Minute)
	var msgs []string
	for _, s := range run.Status.Steps {
		msgs = append(msgs, s.Message)
	}
	if !strings.Contains(strings.Join(msgs, " ")+" "+run.Status.Message, "timed out after 3s") {
		t.Fatalf("run failed with %q, steps %q; want the step's timeout", run.Status.Message, msgs)
	}
	var pods corev1.PodList
	if err := cluster.Env.Client.List(ctx, &pods, client.InNamespace(tenantNS), client.MatchingLabels{"aias.dev/run": "sleepy-1"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Status.Reason != "DeadlineExceeded" {
			t.Errorf("pod %s: phase %s reason %q, want the kubelet's DeadlineExceeded", p.Name, p.Status.Phase, p.Status.Reason)
		}
	}
}

// The same path after an install with kustomize instead of Helm: the release is
// uninstalled (CRDs, tenants and their Runs stay, as for a user who switches), then
// config/default is applied with the image set, and a delivery runs to Succeeded. Runs
// last: it replaces the install every other test of the package uses.
func TestKustomizeInstall(t *testing.T) {
	samples(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := cluster.HelmUninstall(ctx); err != nil {
		t.Fatal(err)
	}
	if err := cluster.KustomizeInstall(ctx); err != nil {
		t.Fatal(err)
	}
	checkAdmission(t, "kustomize")
	checkDelivery(t, "realnode-kustomize", false)
}
