package controllers

import (
	"k8s.io/apimachinery/pkg/api/resource"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
)

// pods returns the Run's step Pods by name.
func (h *rtHarness) pods(run string) map[string]*corev1.Pod {
	h.t.Helper()
	var list corev1.PodList
	if err := h.c.List(h.ctx, &list, client.InNamespace(h.ns), client.MatchingLabels{aiasv1alpha1.LabelRun: run}); err != nil {
		h.t.Fatal(err)
	}
	m := map[string]*corev1.Pod{}
	for i := range list.Items {
		m[list.Items[i].Name] = &list.Items[i]
	}
	return m
}

// An attempt is a Job the cluster's Job controller leaves alone and the one Pod the Run
// controller makes from it; when the Pod ends, the Job gets the terminal status the
// apiserver validates (kube-controller-manager runs beside the apiserver here, so a Job
// it managed would get Pods of its own).
func TestRunAttemptIsJobAndPod(t *testing.T) {
	h := newRunHarness(t)
	a := step("a")
	a.Timeout = &metav1.Duration{Duration: time.Minute}
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{a}})
	h.run("p", "w", "")
	job := h.waitJobs("p", "p-a-1")["p-a-1"]
	if ptr.Deref(job.Spec.ManagedBy, "") != stepjob.ManagedBy {
		t.Fatalf("managedBy = %v", job.Spec.ManagedBy)
	}
	var pod *corev1.Pod
	h.eventually(10*time.Second, "the attempt's Pod", func() (bool, string) {
		pod = h.pods("p")["p-a-1"]
		return pod != nil, ""
	})
	if !metav1.IsControlledBy(pod, job) || pod.Labels["batch.kubernetes.io/job-name"] != job.Name || pod.Labels[aiasv1alpha1.LabelRunUID] != job.Labels[aiasv1alpha1.LabelRunUID] {
		t.Errorf("pod owner %v, labels %v", pod.OwnerReferences, pod.Labels)
	}
	if d := pod.Spec.ActiveDeadlineSeconds; d == nil || *d != 60 {
		t.Errorf("pod activeDeadlineSeconds = %v", d)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(h.pods("p")); n != 1 {
		t.Fatalf("%d pods for one attempt (did the cluster's Job controller make its own?)", n)
	}
	h.finishJob("p", "p-a-1", 0, `{"ok":1}`)
	h.waitPhase("p", aiasv1alpha1.RunSucceeded)
	if err := h.c.Get(h.ctx, client.ObjectKeyFromObject(job), job); err != nil {
		t.Fatal(err)
	}
	done, succeeded, _ := jobResult(job)
	if !done || !succeeded || job.Status.Succeeded != 1 || job.Status.StartTime == nil || job.Status.CompletionTime == nil {
		t.Errorf("job status = %+v", job.Status)
	}
	if c := findJobCondition(job, batchv1.JobSuccessCriteriaMet); c == nil {
		t.Errorf("no SuccessCriteriaMet condition: %+v", job.Status.Conditions)
	}
}

func findJobCondition(j *batchv1.Job, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == t {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// Pod Security admission acts on the Pods AIAS creates: in a "restricted" namespace (as
// every Tenant's is) a step that asks to run as root is refused, and the Run fails with
// the apiserver's message; the restricted default runs.
func TestRunPodRefusedByPodSecurity(t *testing.T) {
	h := newRunHarness(t)
	ns := &corev1.Namespace{}
	if err := h.c.Get(h.ctx, client.ObjectKey{Name: h.ns}, ns); err != nil {
		t.Fatal(err)
	}
	ns.Labels = map[string]string{"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/enforce-version": "latest"}
	if err := h.c.Update(h.ctx, ns); err != nil {
		t.Fatal(err)
	}
	root := step("root")
	root.SecurityContext = &aiasv1alpha1.StepSecurityContext{RunAsUser: ptr.To[int64](0)}
	h.workflow("as-root", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{root}})
	h.workflow("plain", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})

	h.run("refused", "as-root", "")
	run := h.waitPhase("refused", aiasv1alpha1.RunFailed)
	msg := run.Status.Steps[0].Message
	if !strings.Contains(msg, `violates PodSecurity "restricted:latest"`) || !strings.Contains(msg, "runAsUser=0") {
		t.Errorf("step message = %q", msg)
	}
	if !strings.Contains(run.Status.Message, "violates PodSecurity") {
		t.Errorf("run message = %q", run.Status.Message)
	}
	job := h.jobs("refused")["refused-root-1"]
	if c := findJobCondition(job, batchv1.JobFailed); c == nil || c.Reason != aiasv1alpha1.StepJobReasonPodRefused {
		t.Errorf("job conditions = %+v", job.Status.Conditions)
	}
	if n := len(h.pods("refused")); n != 0 {
		t.Errorf("%d pods of a refused attempt", n)
	}

	h.run("allowed", "plain", "")
	h.eventually(10*time.Second, "the restricted Pod", func() (bool, string) { return h.pods("allowed")["allowed-a-1"] != nil, "" })
	h.finishJob("allowed", "allowed-a-1", 0, "")
	h.waitPhase("allowed", aiasv1alpha1.RunSucceeded)
}

// A Pod deleted while its attempt runs fails the attempt (it is not run again unseen),
// as an infrastructure failure: a new attempt follows without spending the step's
// retries (it has none), and the Run says how many attempts the cluster lost.
func TestRunPodDeletedFailsAttempt(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("del", "w", "")
	var pod *corev1.Pod
	h.eventually(10*time.Second, "the Pod", func() (bool, string) { pod = h.pods("del")["del-a-1"]; return pod != nil, "" })
	if err := h.c.Delete(h.ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	h.waitJobs("del", "del-a-1", "del-a-2")
	job := h.jobs("del")["del-a-1"]
	if c := findJobCondition(job, batchv1.JobFailed); c == nil || c.Reason != aiasv1alpha1.StepJobReasonPodDeleted {
		t.Errorf("first attempt's Job = %+v", job.Status.Conditions)
	}
	h.finishJob("del", "del-a-2", 0, "")
	run := h.waitPhase("del", aiasv1alpha1.RunSucceeded)
	if st := run.Status.Steps[0]; st.Attempts != 2 || st.InfrastructureRetries != 1 {
		t.Errorf("attempts = %d, infrastructure retries = %d", st.Attempts, st.InfrastructureRetries)
	}
}

// A step container the kernel killed at its memory limit (the kubelet says OOMKilled)
// fails its step naming out-of-memory and the limit, not the signal; the reason stays
// in the Job's condition for any later read.
func TestRunOOMKilledNamesTheLimit(t *testing.T) {
	h := newRunHarness(t)
	a := step("a")
	a.Resources = &corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("48Mi")}}
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{a}})
	h.run("oom", "w", "")
	h.waitJobs("oom", "oom-a-1")
	h.endPod("oom-a-1", 137, "OOMKilled")
	run := h.waitPhase("oom", aiasv1alpha1.RunFailed)
	if got := run.Status.Steps[0].Message; got != "killed: out of memory (limit 48Mi)" {
		t.Errorf("step message %q", got)
	}
	if c := findJobCondition(h.jobs("oom")["oom-a-1"], batchv1.JobFailed); c == nil || c.Reason != aiasv1alpha1.StepJobReasonOOMKilled {
		t.Errorf("Job condition %+v", c)
	}
}

// A manager that stops between creating an attempt's Job and its Pod leaves a Job
// without a Pod; the next manager creates the Pod (the Job is young and no process saw
// its Pod), from the frozen spec: its cache keeps no pod templates, as in production.
func TestRunCreatesMissingPodAfterRestart(t *testing.T) {
	h := newRunHarness(t)
	h.workflow("w", aiasv1alpha1.WorkflowSpec{Steps: []aiasv1alpha1.WorkflowStep{step("a")}})
	h.run("gap", "w", "")
	var pod *corev1.Pod
	h.eventually(10*time.Second, "the Pod", func() (bool, string) { pod = h.pods("gap")["gap-a-1"]; return pod != nil, "" })
	h.stop()
	h.stop = nil
	// As if the Pod had never been created.
	if err := h.c.Delete(h.ctx, pod, client.GracePeriodSeconds(0)); err != nil {
		t.Fatal(err)
	}
	h.eventually(10*time.Second, "the Pod gone", func() (bool, string) { return h.pods("gap")["gap-a-1"] == nil, "" })
	h.startWith(func(o *ctrl.Options) {
		o.Cache.ByObject = map[client.Object]cache.ByObject{&batchv1.Job{}: {Transform: func(obj any) (any, error) {
			if j, ok := obj.(*batchv1.Job); ok {
				j.Spec.Template = corev1.PodTemplateSpec{}
			}
			return obj, nil
		}}}
	})
	h.eventually(10*time.Second, "the Pod again", func() (bool, string) {
		p := h.pods("gap")["gap-a-1"]
		return p != nil && p.UID != pod.UID && len(p.Spec.Containers) == 1, ""
	})
	h.finishJob("gap", "gap-a-1", 0, "")
	if run := h.waitPhase("gap", aiasv1alpha1.RunSucceeded); run.Status.Steps[0].Attempts != 1 {
		t.Errorf("attempts = %d", run.Status.Steps[0].Attempts)
	}
}
