package controllers

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
)

// waiting sets container's state to waiting for reason, as the kubelet does, on a
// scheduled and (for the step container) initialized Pod.
func waiting(container, image, reason, message string) func(*corev1.Pod) {
	return func(pod *corev1.Pod) {
		now := metav1.Now()
		pod.Status.Phase = corev1.PodPending
		pod.Status.Conditions = []corev1.PodCondition{
			{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
			{Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now},
		}
		cs := corev1.ContainerStatus{Name: container, Image: image, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: message}}}
		if container == stepjob.InstallContainer {
			pod.Status.InitContainerStatuses = []corev1.ContainerStatus{cs}
		} else {
			pod.Status.ContainerStatuses = []corev1.ContainerStatus{cs}
		}
	}
}

// An image that cannot be pulled shows on the step while the kubelet backs off, and
// fails the attempt at the step's imagePullTimeout naming the image and the kubelet's
// message; the Pod is deleted (the kubelet would retry for ever). Without the bound the
// Run stayed Running for as long as the step's timeout allowed.
func TestStepImagePullFailsAfterTimeout(t *testing.T) {
	h := newRunHarness(t)
	a := step("a")
	a.Image = "registry.invalid/typo:1"
	a.ImagePullTimeout = &metav1.Duration{Duration: 4 * time.Second}
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{a}})
	h.run("pull", "w", "")
	h.waitJobs("pull", "pull-a-1")
	kubelet := `Back-off pulling image "registry.invalid/typo:1": ErrImagePull: failed to resolve reference`
	h.setPodStatus("pull-a-1", waiting(stepjob.StepContainer, a.Image, "ImagePullBackOff", kubelet))
	h.eventually(10*time.Second, "the step saying it cannot pull", func() (bool, string) {
		run := h.get("pull")
		if len(run.Status.Steps) == 0 {
			return false, "no step status yet"
		}
		msg := run.Status.Steps[0].Message
		return run.Status.Phase == aiasv1alpha1.RunRunning && strings.Contains(msg, `"registry.invalid/typo:1" cannot be pulled (ImagePullBackOff)`), msg
	})
	run := h.waitPhaseWithin("pull", aiasv1alpha1.RunFailed, 20*time.Second)
	msg := run.Status.Steps[0].Message
	for _, want := range []string{`image "registry.invalid/typo:1" cannot be pulled`, "failed to resolve reference", "for 4s, the step's imagePullTimeout"} {
		if !strings.Contains(msg, want) {
			t.Errorf("step message %q lacks %q", msg, want)
		}
	}
	if c := findJobCondition(h.jobs("pull")["pull-a-1"], "Failed"); c == nil || c.Reason != aiasv1alpha1.StepJobReasonImagePull {
		t.Errorf("Job condition %+v", c)
	}
	h.eventually(10*time.Second, "the stalled Pod deleted", func() (bool, string) { return h.pods("pull")["pull-a-1"] == nil, "" })
}

// A container the kubelet cannot create (a Secret key that does not exist) fails the
// attempt at once, in the kubelet's words, without spending the step's retries on a wait.
func TestStepContainerConfigErrorFailsFast(t *testing.T) {
	h := newRunHarness(t)
	a := step("a")
	a.ImagePullTimeout = &metav1.Duration{Duration: time.Hour}
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{a}})
	h.run("cfg", "w", "")
	h.waitJobs("cfg", "cfg-a-1")
	h.setPodStatus("cfg-a-1", waiting(stepjob.StepContainer, "busybox", "CreateContainerConfigError", `couldn't find key passwrd in Secret `+h.ns+`/db`))
	run := h.waitPhaseWithin("cfg", aiasv1alpha1.RunFailed, 20*time.Second)
	if msg := run.Status.Steps[0].Message; !strings.Contains(msg, "could not be started (CreateContainerConfigError): couldn't find key passwrd in Secret "+h.ns+"/db") {
		t.Errorf("step message %q", msg)
	}
}

// A Pod no node takes shows the scheduler's own message on the step while it waits, and
// fails at the step's schedulingTimeout. The real kube-scheduler writes the condition
// (this control plane has no node for it: "no nodes available to schedule pods"; the
// real-node test sees a nodeSelector no node matches).
func TestStepUnschedulableShownAndBounded(t *testing.T) {
	h := newRunHarness(t)
	a := step("a")
	a.NodeSelector = map[string]string{"aias.dev/test-pool": "none-such"}
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{a},
		StartTimeouts: aiasv1alpha1.StartTimeouts{SchedulingTimeout: &metav1.Duration{Duration: 8 * time.Second}}})
	h.run("nonode", "w", "")
	var scheduler string
	h.eventually(15*time.Second, "the step waiting for a node", func() (bool, string) {
		run := h.get("nonode")
		if len(run.Status.Steps) == 0 {
			return false, "no step status yet"
		}
		msg := run.Status.Steps[0].Message
		scheduler = strings.TrimPrefix(msg, "waiting for a node: ")
		return run.Status.Phase == aiasv1alpha1.RunRunning && scheduler != msg && scheduler != "", msg
	})
	run := h.waitPhaseWithin("nonode", aiasv1alpha1.RunFailed, 30*time.Second)
	if msg := run.Status.Steps[0].Message; msg != "no node took the step's Pod within 8s (its schedulingTimeout): "+scheduler {
		t.Errorf("step message %q; want the timeout and the scheduler's %q", msg, scheduler)
	}
}

// A Pod evicted mid-step (a drain, node pressure) is retried as an infrastructure
// failure: a new attempt at once, not counted against retries (the step has none), the
// reason kept on the first attempt's Job and in the event.
func TestStepEvictedRetriedAsInfrastructure(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("evict", "w", "")
	h.waitJobs("evict", "evict-a-1")
	h.setPodStatus("evict-a-1", func(pod *corev1.Pod) {
		pod.Status.Phase, pod.Status.Reason = corev1.PodFailed, "Evicted"
		pod.Status.Message = "The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi."
	})
	h.waitJobs("evict", "evict-a-1", "evict-a-2")
	if c := findJobCondition(h.jobs("evict")["evict-a-1"], "Failed"); c == nil || c.Reason != aiasv1alpha1.StepJobReasonEvicted || !strings.Contains(c.Message, "low on resource: memory") {
		t.Errorf("first attempt's Job condition %+v", c)
	}
	h.finishJob("evict", "evict-a-2", 0, "")
	run := h.waitPhase("evict", aiasv1alpha1.RunSucceeded)
	if st := run.Status.Steps[0]; st.Attempts != 2 || st.InfrastructureRetries != 1 {
		t.Errorf("attempts %d, infrastructure retries %d; want 2, 1", st.Attempts, st.InfrastructureRetries)
	}
}

// On the node agent, which resolves env as the kubelet does: a step reading a key its
// shared Secret does not have fails at once, naming the Secret and key, and its Pod is
// deleted (instead of waiting in CreateContainerConfigError until the step's timeout).
func TestStepMissingSecretKeyOnTheNodeAgent(t *testing.T) {
	h := newRunHarnessNoStart(t)
	h.startStepRuntime()
	h.start()
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "db",
		Labels: map[string]string{aiasv1alpha1.LabelWorkflowAccess: aiasv1alpha1.WorkflowAccessAllowed}},
		Data: map[string][]byte{"password": []byte("x")}}
	if err := h.c.Create(h.ctx, secret); err != nil {
		t.Fatal(err)
	}
	a := shStep("a", "echo $PASSWORD", []string{}...)
	a.Env = []corev1.EnvVar{{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
		LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "passwrd"}}}}
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{a}})
	h.run("key", "w", "")
	run := h.waitPhaseWithin("key", aiasv1alpha1.RunFailed, time.Minute)
	if msg := run.Status.Steps[0].Message; !strings.Contains(msg, "(CreateContainerConfigError)") || !strings.Contains(msg, "passwrd") || !strings.Contains(msg, "db") {
		t.Errorf("step message %q; want CreateContainerConfigError naming the Secret and key", msg)
	}
	h.eventually(30*time.Second, "the Pod deleted", func() (bool, string) { return h.pods("key")["key-a-1"] == nil, "" })
}

// A placement the tenant's plan does not allow is refused when each attempt starts, not
// only at admission (which checked the plan of its day, or did not run at all): the
// attempt fails naming the field and the plan's list, and no Pod is made.
func TestStepPlacementRefusedByPlanAtRunTime(t *testing.T) {
	h := newRunHarness(t)
	h.tenantOnPlan("gvisor-only", aiasv1alpha1.PlanLimits{AllowedRuntimeClasses: []string{"gvisor"}})
	kata := "kata"
	a := step("a")
	a.RuntimeClassName = &kata
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{a}})
	h.run("kata", "w", "")
	run := h.waitPhaseWithin("kata", aiasv1alpha1.RunFailed, 30*time.Second)
	if msg := run.Status.Steps[0].Message; !strings.Contains(msg, `runtimeClassName: runtime class "kata" is not allowed by plan`) || !strings.Contains(msg, "allowedRuntimeClasses: gvisor") {
		t.Errorf("step message %q", msg)
	}
	if n := len(h.pods("kata")); n != 0 {
		t.Errorf("%d Pods made for a refused placement", n)
	}
}

// A secret volume is held to the sharing rule as env's secretKeyRef is: an unshared
// Secret refuses the attempt naming the volume, before any Pod exists.
func TestStepSecretVolumeMustBeShared(t *testing.T) {
	h := newRunHarness(t)
	if err := h.c.Create(h.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: h.ns, Name: "private"}, Data: map[string][]byte{"k": []byte("v")}}); err != nil {
		t.Fatal(err)
	}
	a := step("a")
	a.Volumes = []aiasv1alpha1.StepVolume{{Name: "creds", Secret: &aiasv1alpha1.SecretVolume{SecretName: "private"}}}
	a.VolumeMounts = []corev1.VolumeMount{{Name: "creds", MountPath: "/creds"}}
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{a}})
	h.run("vol", "w", "")
	run := h.waitPhaseWithin("vol", aiasv1alpha1.RunFailed, 30*time.Second)
	if msg := run.Status.Steps[0].Message; !strings.Contains(msg, `step "a" volume "creds": Secret "private" is not shared with workflows`) {
		t.Errorf("step message %q", msg)
	}
	if n := len(h.pods("vol")); n != 0 {
		t.Errorf("%d Pods made with an unshared Secret", n)
	}
}

// A scheduled Pod its kubelet has not set up (PodReadyToStartContainers False: a volume
// that does not mount, the step runtime's CSI driver missing on the node) is a stall
// bounded by schedulingTimeout, counted from the Pod's binding; a Pod pulling its image
// (set up, containers still creating) and a node agent's Pod (no such condition) are not.
func TestPodStallVolumes(t *testing.T) {
	bound := metav1.NewTime(time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC))
	pod := func(ready corev1.ConditionStatus) *corev1.Pod {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "r-a-1"}, Spec: corev1.PodSpec{NodeName: "n1"},
			Status: corev1.PodStatus{Phase: corev1.PodPending, Conditions: []corev1.PodCondition{
				{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: bound}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: stepjob.StepContainer, State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}}}}}}
		if ready != "" {
			p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: ready})
		}
		return p
	}
	st := podStall(pod(corev1.ConditionFalse))
	if st.kind != stallVolumes || !st.since.Equal(bound.Time) || st.reason != aiasv1alpha1.StepJobReasonVolumeMount ||
		!strings.Contains(st.message, "kubectl describe pod r-a-1") || !strings.Contains(st.message, "node n1") {
		t.Fatalf("not set up: %+v", st)
	}
	if d := stallDeadline(st, time.Minute, 10*time.Minute); !d.Equal(bound.Add(10 * time.Minute)) {
		t.Errorf("deadline %v, want the binding + schedulingTimeout", d)
	}
	want := "node n1 did not set up the step's Pod (its volumes, its sandbox) within 10m0s (its schedulingTimeout): `kubectl describe pod r-a-1` shows why (FailedMount events)"
	if msg := stallFailure(st, time.Minute, 10*time.Minute); msg != want {
		t.Errorf("failure message %q", msg)
	}
	for name, p := range map[string]*corev1.Pod{"set up, pulling": pod(corev1.ConditionTrue), "node agent": pod("")} {
		if st := podStall(p); st.kind != stallNone {
			t.Errorf("%s: stall %+v", name, st)
		}
	}
	if out, _ := StepPodTransform(pod(corev1.ConditionFalse)); podStall(out.(*corev1.Pod)).kind != stallVolumes {
		t.Error("the manager's Pod cache drops what shows the stall")
	}
}
