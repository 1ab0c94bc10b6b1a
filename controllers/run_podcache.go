package controllers

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
)

// StepPodTransform trims a cached step Pod to what the Run controller reads of it (the
// manager's cache transform): who it is (name, UID, owner, the aias.dev/run labels),
// whether it is being deleted, what a Pending one stalls on (podStall: a container
// waiting on an image or its config, the scheduler's condition) and how it ended
// (podFailure: phase, reason, message, the step and install containers' terminated
// states, the DisruptionTarget condition). It reads a Pod's spec only when it adopts
// one, straight from the apiserver. A cluster keeps every finished attempt's Pod until
// its Run goes, so this is most of the manager's memory (BENCHMARKS.md, manager RSS).
// Kept next to podStall and podFailure: a field they read and this drops is a stall
// nobody sees (found on the real node, where the transform applies).
func StepPodTransform(obj any) (any, error) {
	p, ok := obj.(*corev1.Pod)
	if !ok {
		return obj, nil
	}
	out := &corev1.Pod{
		TypeMeta: p.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name: p.Name, Namespace: p.Namespace, UID: p.UID, ResourceVersion: p.ResourceVersion,
			CreationTimestamp: p.CreationTimestamp, DeletionTimestamp: p.DeletionTimestamp,
			Labels:          keepLabels(p.Labels, aiasv1alpha1.LabelRun, aiasv1alpha1.LabelRunUID),
			OwnerReferences: p.OwnerReferences,
		},
		Spec: corev1.PodSpec{NodeName: p.Spec.NodeName},
		Status: corev1.PodStatus{
			Phase: p.Status.Phase, Reason: p.Status.Reason, Message: p.Status.Message, StartTime: p.Status.StartTime,
		},
	}
	for _, c := range p.Status.Conditions {
		switch {
		case c.Type == corev1.PodScheduled, c.Type == corev1.PodInitialized, c.Type == corev1.PodReadyToStartContainers,
			c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue:
			out.Status.Conditions = append(out.Status.Conditions, corev1.PodCondition{Type: c.Type, Status: c.Status,
				Reason: c.Reason, Message: c.Message, LastTransitionTime: c.LastTransitionTime})
		}
	}
	out.Status.InitContainerStatuses = trimStatuses(p.Status.InitContainerStatuses, stepjob.InstallContainer)
	out.Status.ContainerStatuses = trimStatuses(p.Status.ContainerStatuses, stepjob.StepContainer)
	return out, nil
}

// trimStatuses keeps container name's state when it is terminated, or waiting on what
// podStall reads (an image, the container's config); nothing for a running container.
func trimStatuses(in []corev1.ContainerStatus, name string) []corev1.ContainerStatus {
	for _, cs := range in {
		if cs.Name != name {
			continue
		}
		kept := corev1.ContainerStatus{Name: cs.Name}
		switch s := cs.State; {
		case s.Terminated != nil:
			t := s.Terminated
			kept.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: t.ExitCode, Signal: t.Signal, Reason: t.Reason,
				Message: t.Message, StartedAt: t.StartedAt, FinishedAt: t.FinishedAt}
		case s.Waiting != nil && stallReason(s.Waiting.Reason):
			kept.Image, kept.State.Waiting = cs.Image, s.Waiting.DeepCopy()
		default:
			return nil
		}
		return []corev1.ContainerStatus{kept}
	}
	return nil
}

func keepLabels(in map[string]string, keys ...string) map[string]string {
	out := make(map[string]string, len(keys))
	for _, k := range keys {
		if v, ok := in[k]; ok {
			out[k] = v
		}
	}
	return out
}
