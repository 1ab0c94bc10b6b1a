package realnode

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

// Issue 25 on the real kubelet and containerd: every way a step's Pod fails or stalls is
// named in the Run, in the kubelet's or scheduler's words, and bounded. The Runs go at
// once, in a Tenant of their own (the samples' acme is on the small default plan):
//   - an image that cannot be pulled fails at its imagePullTimeout naming the image;
//   - a step killed at its memory limit says OOM and the limit;
//   - a step reading a missing Secret key fails at once naming the key;
//   - a nodeSelector no node matches shows the scheduler's message, then fails at the
//     schedulingTimeout;
//   - a Pod deleted mid-step is retried as an infrastructure failure without spending
//     retries, and that Pod had the step's tolerations and imagePullSecrets;
//   - the Tenant's plan refuses a runtime class at admission.
func TestStepFailuresNamedOnTheRealNode(t *testing.T) {
	ctx := context.Background()
	cl := cluster.Env.Client
	plan := &aiasv1alpha1.Plan{ObjectMeta: metav1.ObjectMeta{Name: "realnode-failures"},
		Spec: aiasv1alpha1.PlanSpec{Limits: aiasv1alpha1.PlanLimits{AllowedRuntimeClasses: []string{"runc"}}}}
	tenant := &aiasv1alpha1.Tenant{ObjectMeta: metav1.ObjectMeta{Name: "realnode-failures"}, Spec: aiasv1alpha1.TenantSpec{Plan: plan.Name}}
	for _, o := range []client.Object{plan, tenant} {
		if err := Settling(func() error { return cl.Create(ctx, o) }); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { _ = cl.Delete(ctx, tenant); _ = cl.Delete(ctx, plan) })
	ns := tenant.Name
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(250 * time.Millisecond) {
		_ = cl.Get(ctx, client.ObjectKeyFromObject(tenant), tenant)
		if c := meta.FindStatusCondition(tenant.Status.Conditions, aiasv1alpha1.ConditionReady); c != nil && c.Status == metav1.ConditionTrue && tenant.Status.EffectivePlan == plan.Name {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Tenant %s not Ready on plan %s: %+v", tenant.Name, plan.Name, tenant.Status)
		}
	}
	for _, o := range []client.Object{
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "db",
			Labels: map[string]string{aiasv1alpha1.LabelWorkflowAccess: aiasv1alpha1.WorkflowAccessAllowed}},
			Data: map[string][]byte{"password": []byte("s3cret")}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "regcred"}, Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)}},
	} {
		if err := cl.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}

	sh := func(name, script string) aiasv1alpha1.WorkflowStep {
		return aiasv1alpha1.WorkflowStep{Name: name, Image: BusyboxImage, Command: []string{"sh", "-c", script}}
	}
	typo := sh("a", "true")
	typo.Image = "registry.invalid/aias/typo:1"
	typo.ImagePullTimeout = &metav1.Duration{Duration: 20 * time.Second}
	oom := sh("a", "dd if=/dev/zero of=/dev/null bs=200M count=1")
	oom.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi")},
		Requests: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi")}}
	key := sh("a", "echo $PASSWORD")
	key.Env = []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "passwrd"}}}}
	nowhere := sh("a", "true")
	nowhere.NodeSelector = map[string]string{"aias.dev/pool": "gpu"}
	nowhere.SchedulingTimeout = &metav1.Duration{Duration: 20 * time.Second}
	lost := sh("a", `if [ "$AIAS_ATTEMPT" = 1 ]; then sleep 600; fi; echo done`)
	lost.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}}
	lost.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
	workflows := map[string]aiasv1alpha1.WorkflowStep{"typo": typo, "oom": oom, "key": key, "nowhere": nowhere, "lost": lost}
	for name, step := range workflows {
		wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step}}}
		err := cl.Create(ctx, wf)
		for deadline := time.Now().Add(time.Minute); WebhookUnreachable(err) && time.Now().Before(deadline); {
			time.Sleep(time.Second)
			err = cl.Create(ctx, wf)
		}
		if err != nil {
			t.Fatal(err)
		}
		run := &aiasv1alpha1.Run{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name + "-1"},
			Spec: aiasv1alpha1.RunSpec{WorkflowRef: aiasv1alpha1.WorkflowReference{Name: name}, Trigger: &aiasv1alpha1.RunTrigger{Type: aiasv1alpha1.TriggerManual}}}
		if err := cl.Create(ctx, run); err != nil {
			t.Fatal(err)
		}
	}

	get := func(name string) *aiasv1alpha1.Run {
		run := &aiasv1alpha1.Run{}
		_ = cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, run)
		return run
	}
	// wait returns the Run once cond holds, failing the test after timeout.
	wait := func(name, what string, timeout time.Duration, cond func(*aiasv1alpha1.Run) bool) *aiasv1alpha1.Run {
		t.Helper()
		for deadline := time.Now().Add(timeout); ; time.Sleep(250 * time.Millisecond) {
			run := get(name)
			if cond(run) {
				return run
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %s: no %s after %s: phase %s, message %q, steps %+v\n%s", name, what, timeout, run.Status.Phase, run.Status.Message, run.Status.Steps, podsState(ns))
			}
		}
	}
	stepMessage := func(run *aiasv1alpha1.Run) string {
		if len(run.Status.Steps) == 0 {
			return ""
		}
		return run.Status.Steps[0].Message
	}
	failed := func(run *aiasv1alpha1.Run) bool { return run.Status.Phase == aiasv1alpha1.RunFailed }

	// The Pod deleted mid-step: once its first attempt runs, delete its Pod.
	pod := &corev1.Pod{}
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(250 * time.Millisecond) {
		if err := cl.Get(ctx, client.ObjectKey{Namespace: ns, Name: "lost-1-a-1"}, pod); err == nil && pod.Status.Phase == corev1.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lost-1's first Pod is not Running after 2 minutes\n%s", podsState(ns))
		}
	}
	if !slices.ContainsFunc(pod.Spec.Tolerations, func(t corev1.Toleration) bool { return t.Key == "dedicated" }) || len(pod.Spec.ImagePullSecrets) != 1 || pod.Spec.ImagePullSecrets[0].Name != "regcred" {
		t.Errorf("the step's Pod has tolerations %+v and imagePullSecrets %+v; want the step's", pod.Spec.Tolerations, pod.Spec.ImagePullSecrets)
	}
	if err := cl.Delete(ctx, pod); err != nil {
		t.Fatal(err)
	}

	run := wait("key-1", "failure", time.Minute, failed)
	if msg := stepMessage(run); !strings.Contains(msg, "(CreateContainerConfigError)") || !strings.Contains(msg, "passwrd") {
		t.Errorf("missing Secret key: step message %q", msg)
	}
	run = wait("oom-1", "failure", 2*time.Minute, failed)
	if msg := stepMessage(run); msg != "killed: out of memory (limit 48Mi)" {
		t.Errorf("OOM: step message %q", msg)
	}
	var scheduler string
	wait("nowhere-1", "scheduler's message", time.Minute, func(run *aiasv1alpha1.Run) bool {
		scheduler = strings.TrimPrefix(stepMessage(run), "waiting for a node: ")
		return run.Status.Phase == aiasv1alpha1.RunRunning && scheduler != stepMessage(run)
	})
	if !strings.Contains(scheduler, "didn't match Pod's node affinity/selector") {
		t.Errorf("waiting for a node: the scheduler said %q", scheduler)
	}
	run = wait("nowhere-1", "failure", time.Minute, failed)
	if msg := stepMessage(run); !strings.HasPrefix(msg, "no node took the step's Pod within 20s (its schedulingTimeout): ") {
		t.Errorf("unschedulable: step message %q", msg)
	}
	run = wait("typo-1", "failure", 2*time.Minute, failed)
	if msg := stepMessage(run); !strings.Contains(msg, `image "registry.invalid/aias/typo:1" cannot be pulled`) || !strings.Contains(msg, "imagePullTimeout") {
		t.Errorf("unpullable image: step message %q", msg)
	}
	run = wait("lost-1", "success", 2*time.Minute, func(run *aiasv1alpha1.Run) bool { return run.Status.Phase.Finished() })
	if st := run.Status.Steps; run.Status.Phase != aiasv1alpha1.RunSucceeded || st[0].Attempts != 2 || st[0].InfrastructureRetries != 1 {
		t.Errorf("Pod deleted mid-step: phase %s, steps %+v; want Succeeded after 2 attempts, 1 of them an infrastructure retry", run.Status.Phase, st)
	}

	wf := &aiasv1alpha1.Workflow{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "kata"},
		Spec: aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{sh("a", "true")}}}
	wf.Spec.Steps[0].RuntimeClassName = ptr.To("kata")
	err := cl.Create(ctx, wf)
	for deadline := time.Now().Add(time.Minute); WebhookUnreachable(err) && time.Now().Before(deadline); {
		time.Sleep(time.Second)
		err = cl.Create(ctx, wf)
	}
	if err == nil || !strings.Contains(err.Error(), `runtime class "kata" is not allowed by plan "realnode-failures"`) {
		t.Errorf("a runtime class the plan does not allow: %v", err)
	}
}
