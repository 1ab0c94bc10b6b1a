package nodeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/utils/ptr"
)

// nodeIP is the Node's and every Pod's address: this machine's loopback.
const nodeIP = "127.0.0.1"

// A Pod's status is written as the kubelet writes it: a strategic merge patch of the
// status subresource computed from the Pod as last seen, carrying the Pod's UID as a
// precondition, so a write costs one request and never conflicts with other writers
// of other fields. A Pod that runs costs two writes:
//
//   - when its init containers have succeeded and its containers have started: phase
//     Running, startTime, hostIP(s), podIP(s), the conditions PodReadyToStartContainers,
//     Initialized, ContainersReady and Ready True, init containers terminated
//     (Completed, exit code 0), containers running;
//   - when every container has ended: phase Succeeded (every exit code 0) or Failed,
//     containers terminated (Completed or Error, the exit code, 128+n for a death by
//     signal n), Ready and ContainersReady False (PodCompleted or PodFailed) and
//     PodReadyToStartContainers False.
//
// A Pod whose init container fails, or that never gets as far as running its
// containers, costs one: the second.

// errPodGone: the Pod was deleted, or replaced by another of the same name.
var errPodGone = errors.New("pod gone")

// patchStatus writes status onto the Pod base was read as and returns the Pod as
// written. It retries transient errors until ctx ends.
func (a *Agent) patchStatus(ctx context.Context, base *corev1.Pod, status corev1.PodStatus) (*corev1.Pod, error) {
	oldData, err := json.Marshal(corev1.Pod{Status: base.Status})
	if err != nil {
		return nil, err
	}
	newData, err := json.Marshal(corev1.Pod{ObjectMeta: metav1.ObjectMeta{UID: base.UID}, Status: status})
	if err != nil {
		return nil, err
	}
	patch, err := strategicpatch.CreateTwoWayMergePatch(oldData, newData, corev1.Pod{})
	if err != nil {
		return nil, err
	}
	backoff := 100 * time.Millisecond
	for {
		got, err := a.client.CoreV1().Pods(base.Namespace).Patch(ctx, base.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}, "status")
		switch {
		case err == nil:
			a.writes.podStatus.Add(1)
			return got, nil
		case apierrors.IsNotFound(err), apierrors.IsConflict(err): // a conflict is the UID precondition failing
			return nil, errPodGone
		case apierrors.IsInvalid(err), apierrors.IsBadRequest(err):
			a.writes.podStatusRefused.Add(1)
			return nil, fmt.Errorf("the apiserver refused the status of pod %s/%s: %w", base.Namespace, base.Name, err)
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(backoff):
			backoff = min(2*backoff, 2*time.Second)
		}
	}
}

// buildStatus is the Pod's status in phase with the containers as st says.
func (a *Agent) buildStatus(pod *corev1.Pod, st *podState, phase corev1.PodPhase, reason, message string) corev1.PodStatus {
	s := *pod.Status.DeepCopy()
	s.Phase, s.Reason, s.Message = phase, reason, message
	s.ObservedGeneration = pod.Generation
	if s.StartTime == nil {
		s.StartTime = ptr.To(metav1.NewTime(st.start))
	}
	s.HostIP, s.HostIPs = nodeIP, []corev1.HostIP{{IP: nodeIP}}
	s.PodIP, s.PodIPs = nodeIP, []corev1.PodIP{{IP: nodeIP}}
	s.InitContainerStatuses = containerStatuses(pod.Spec.InitContainers, st.init, true)
	s.ContainerStatuses = containerStatuses(pod.Spec.Containers, st.main, false)

	terminal := phase == corev1.PodSucceeded || phase == corev1.PodFailed
	sandbox := corev1.PodCondition{Type: corev1.PodReadyToStartContainers, Status: corev1.ConditionTrue}
	if terminal {
		sandbox.Status, sandbox.Reason, sandbox.Message = corev1.ConditionFalse, "PodSandboxNotReady", "pod sandbox is not ready"
	}
	initialized := corev1.PodCondition{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}
	if incomplete := notDone(pod.Spec.InitContainers, st.init, (*ctrState).succeeded); len(incomplete) > 0 {
		initialized.Status, initialized.Reason = corev1.ConditionFalse, "ContainersNotInitialized"
		initialized.Message = fmt.Sprintf("containers with incomplete status: %v", incomplete)
	} else if phase == corev1.PodSucceeded {
		initialized.Reason = "PodCompleted"
	}
	ready := corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}
	switch unready := notDone(pod.Spec.Containers, st.main, (*ctrState).running); {
	case phase == corev1.PodSucceeded:
		ready.Status, ready.Reason = corev1.ConditionFalse, "PodCompleted"
	case phase == corev1.PodFailed:
		ready.Status, ready.Reason = corev1.ConditionFalse, "PodFailed"
	case len(unready) > 0:
		ready.Status, ready.Reason = corev1.ConditionFalse, "ContainersNotReady"
		ready.Message = fmt.Sprintf("containers with unready status: %v", unready)
	}
	podReady := ready
	podReady.Type = corev1.PodReady
	s.Conditions = mergeConditions(s.Conditions, pod.Generation, sandbox, initialized, podReady, ready)
	return s
}

// notDone names the containers whose state does not pass ok.
func notDone(cs []corev1.Container, states []ctrState, ok func(*ctrState) bool) []string {
	var names []string
	for i := range cs {
		if !ok(&states[i]) {
			names = append(names, cs[i].Name)
		}
	}
	return names
}

// mergeConditions puts want first, in the kubelet's order, then the other conditions
// (PodScheduled, DisruptionTarget, readiness gates, ...) as they were. A condition
// keeps its lastTransitionTime while its status stays.
func mergeConditions(old []corev1.PodCondition, generation int64, want ...corev1.PodCondition) []corev1.PodCondition {
	now := metav1.Now()
	out := make([]corev1.PodCondition, 0, len(old)+len(want))
	mine := map[corev1.PodConditionType]bool{}
	for _, c := range want {
		mine[c.Type] = true
		c.ObservedGeneration, c.LastTransitionTime = generation, now
		for _, o := range old {
			if o.Type == c.Type && o.Status == c.Status {
				c.LastTransitionTime = o.LastTransitionTime
			}
		}
		out = append(out, c)
	}
	for _, o := range old {
		if !mine[o.Type] {
			out = append(out, o)
		}
	}
	return out
}

// containerStatuses reports each container as st says.
func containerStatuses(cs []corev1.Container, states []ctrState, init bool) []corev1.ContainerStatus {
	out := make([]corev1.ContainerStatus, len(cs))
	for i, c := range cs {
		s := &states[i]
		cst := corev1.ContainerStatus{Name: c.Name, Image: c.Image, ContainerID: s.containerID, Started: ptr.To(false)}
		switch {
		case s.terminated():
			cst.State.Terminated = &corev1.ContainerStateTerminated{
				ExitCode: s.exitCode, Reason: s.reason, Message: s.message, ContainerID: s.containerID,
				StartedAt: metav1.NewTime(s.started), FinishedAt: metav1.NewTime(s.finished),
			}
			cst.Ready = init && s.exitCode == 0 // a completed init container counts as ready
		case s.running():
			cst.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(s.started)}
			cst.Ready, cst.Started = !init, ptr.To(true)
		default:
			cst.State.Waiting = &corev1.ContainerStateWaiting{Reason: s.waiting, Message: s.waitingMessage}
		}
		if !s.started.IsZero() {
			cst.ImageID = c.Image // nothing is pulled: the image reference stands for itself
		}
		out[i] = cst
	}
	return out
}

// reject fails a Pod the agent cannot run, as the kubelet fails a Pod it rejects at
// admission: phase Failed with a reason and message, nothing else. One write.
func (a *Agent) reject(pod *corev1.Pod, message string) error {
	a.Log.Info("cannot run pod", "pod", pod.Namespace+"/"+pod.Name, "reason", ReasonUnsupported, "message", message)
	s := *pod.Status.DeepCopy()
	s.Phase, s.Reason, s.Message = corev1.PodFailed, ReasonUnsupported, message
	return a.writeTerminal(pod, s)
}

// markRestarted fails a Pod that is Running but whose processes this agent does not
// have: an earlier agent ran it and is gone, and so are its processes. Containers that
// had not ended are reported as the kubelet reports containers it lost.
func (a *Agent) markRestarted(pod *corev1.Pod) error {
	message := "the node agent that ran this Pod stopped before the Pod finished; its processes were killed"
	a.Log.Info("pod was running under an earlier node agent: marking it failed", "pod", pod.Namespace+"/"+pod.Name)
	if !a.KeepFailed && a.WorkRoot != "" {
		_ = os.RemoveAll(podDir(a.WorkRoot, pod)) // the earlier agent's pod directory, if it left one
	}
	st := &podState{init: lostStates(pod.Spec.InitContainers, pod.Status.InitContainerStatuses),
		main: lostStates(pod.Spec.Containers, pod.Status.ContainerStatuses)}
	return a.writeTerminal(pod, a.buildStatus(pod, st, corev1.PodFailed, ReasonRestarted, message))
}

// writeTerminal makes a Pod's one terminal write outside a pod goroutine and records
// it, so that the Pod never runs here.
func (a *Agent) writeTerminal(pod *corev1.Pod, status corev1.PodStatus) error {
	ctx, cancel := context.WithTimeout(a.base, statusTimeout)
	defer cancel()
	_, err := a.patchStatus(ctx, pod, status)
	if err != nil && !errors.Is(err, errPodGone) {
		if a.base.Err() != nil {
			return nil // stopping
		}
		return err
	}
	a.markFinished(pod.UID)
	return nil
}

// lostStates turns the containers' last reported statuses into states where any that
// had not ended is terminated as unknown (exit code 137).
func lostStates(cs []corev1.Container, reported []corev1.ContainerStatus) []ctrState {
	states := make([]ctrState, len(cs))
	for i, c := range cs {
		s := &states[i]
		s.waiting = "PodInitializing"
		for _, r := range reported {
			if r.Name != c.Name {
				continue
			}
			s.containerID = r.ContainerID
			switch {
			case r.State.Terminated != nil:
				t := r.State.Terminated
				s.started, s.finished, s.exitCode, s.reason, s.message = t.StartedAt.Time, t.FinishedAt.Time, t.ExitCode, t.Reason, t.Message
			case r.State.Running != nil:
				s.started, s.finished, s.exitCode = r.State.Running.StartedAt.Time, time.Now(), 137
				s.reason, s.message = "ContainerStatusUnknown", "The container could not be located when the pod was terminated"
			case r.State.Waiting != nil:
				s.waiting, s.waitingMessage = r.State.Waiting.Reason, r.State.Waiting.Message
			}
		}
	}
	return states
}

// runInstantly gives a Pod the two status writes of a Pod that ran and succeeded,
// running nothing: Running (init containers completed, containers started), then
// Succeeded (every container exited 0).
func (a *Agent) runInstantly(ctx context.Context, pod *corev1.Pod) error {
	now := time.Now()
	st := &podState{start: now, init: make([]ctrState, len(pod.Spec.InitContainers)), main: make([]ctrState, len(pod.Spec.Containers))}
	for i := range st.init {
		st.init[i].started = now
		st.init[i].ended(0, now)
	}
	for i := range st.main {
		st.main[i].started = now
	}
	running, err := a.patchStatus(ctx, pod, a.buildStatus(pod, st, corev1.PodRunning, "", ""))
	if errors.Is(err, errPodGone) {
		return nil
	} else if err != nil {
		return err
	}
	now = time.Now()
	for i := range st.main {
		st.main[i].ended(0, now)
	}
	return a.writeTerminal(running, a.buildStatus(running, st, corev1.PodSucceeded, "", ""))
}

// deletePod finishes a Pod's deletion, as the kubelet does once its containers are
// gone: a delete with grace period 0 and the Pod's UID as a precondition. Nothing to do
// when a deletion with grace period 0 was asked for already (the Pod then waits only
// for its finalizers).
func (a *Agent) deletePod(ctx context.Context, pod *corev1.Pod) error {
	if pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds == 0 {
		return nil
	}
	err := a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: ptr.To[int64](0),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	switch {
	case err == nil:
		a.writes.podDeletes.Add(1)
		a.Log.Info("pod deleted", "pod", pod.Namespace+"/"+pod.Name)
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
	default:
		return err
	}
	return nil
}
