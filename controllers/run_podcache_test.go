package controllers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/aias-dev/aias/internal/stepjob"
)

// What the Run controller reads of a step Pod survives the manager's cache transform:
// podStall and podFailure say the same of the cached Pod as of the Pod itself. (The
// real-node test found a transform that dropped the waiting states: no stall was seen.)
func TestStepPodTransformKeepsWhatTheControllerReads(t *testing.T) {
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	waiting := func(container, reason, msg string) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: container, Image: "registry.invalid/x:1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason, Message: msg}}}
	}
	terminated := func(container, reason string, code int32) corev1.ContainerStatus {
		return corev1.ContainerStatus{Name: container, State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: code, Reason: reason, Message: "runtime says"}}}
	}
	scheduled := corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now}
	pods := map[string]corev1.PodStatus{
		"image": {Phase: corev1.PodPending, Conditions: []corev1.PodCondition{scheduled, {Type: corev1.PodInitialized, Status: corev1.ConditionTrue, LastTransitionTime: now}},
			ContainerStatuses: []corev1.ContainerStatus{waiting(stepjob.StepContainer, "ImagePullBackOff", "back-off")}},
		"install image": {Phase: corev1.PodPending, Conditions: []corev1.PodCondition{scheduled},
			InitContainerStatuses: []corev1.ContainerStatus{waiting(stepjob.InstallContainer, "ErrImagePull", "no such host")}},
		"config": {Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{waiting(stepjob.StepContainer, "CreateContainerConfigError", "couldn't find key k")}},
		"unschedulable": {Phase: corev1.PodPending, Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse,
			Reason: corev1.PodReasonUnschedulable, Message: "0/1 nodes are available", LastTransitionTime: now}}},
		"preempted": {Phase: corev1.PodFailed, Conditions: []corev1.PodCondition{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "PreemptionByScheduler", Message: "by p"}},
			ContainerStatuses: []corev1.ContainerStatus{terminated(stepjob.StepContainer, "Error", 143)}},
		"start error":    {Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated(stepjob.StepContainer, "StartError", 128)}},
		"install failed": {Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{terminated(stepjob.InstallContainer, "Error", 1)}},
		"oom":            {Phase: corev1.PodFailed, ContainerStatuses: []corev1.ContainerStatus{terminated(stepjob.StepContainer, "OOMKilled", 137)}},
	}
	for name, status := range pods {
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", CreationTimestamp: now}, Status: status}
		got, _ := StepPodTransform(pod)
		cached := got.(*corev1.Pod)
		if podEnded(pod) {
			r1, m1 := podFailure(pod)
			r2, m2 := podFailure(cached)
			if r1 != r2 || m1 != m2 {
				t.Errorf("%s: podFailure %q %q; of the cached Pod %q %q", name, r1, m1, r2, m2)
			}
			continue
		}
		if s1, s2 := podStall(pod), podStall(cached); s1 != s2 || s1.kind == stallNone {
			t.Errorf("%s: podStall %+v; of the cached Pod %+v", name, s1, s2)
		}
	}
}
