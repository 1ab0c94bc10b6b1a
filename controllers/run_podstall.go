package controllers

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/stepjob"
)

// A step's Pod can stall before its command runs, in ways the Pod's phase never shows
// (it stays Pending): an image that cannot be pulled, a container the kubelet cannot
// create (a missing Secret key), no node that takes it. podStall reads them the way
// `kubectl describe pod` shows them, so that the Run says what is wrong and the attempt
// fails — at once when waiting cannot help, after a bounded wait when it might.

// stallKind is what a Pending step Pod waits for.
type stallKind int

const (
	stallNone stallKind = iota
	// stallImage: ErrImagePull / ImagePullBackOff; fails after imagePullTimeout.
	stallImage
	// stallNode: the scheduler found no node; fails after schedulingTimeout.
	stallNode
	// stallVolumes: the Pod is on a node whose kubelet has not set it up (its
	// PodReadyToStartContainers condition is False): a volume that does not mount
	// (FailedMount: a secret volume's Secret missing, a CSI driver — the step runtime's
	// among them — not running on the node) or a sandbox the runtime cannot create. Shown
	// after volumeGrace, failed after schedulingTimeout.
	stallVolumes
	// stallFatal: waiting cannot help (an invalid image name, a container the kubelet
	// cannot create): the attempt fails at once.
	stallFatal
)

// Default start timeouts, when neither the step nor its Workflow sets one (the manager's
// --step-image-pull-timeout and --step-scheduling-timeout change them).
const (
	DefaultImagePullTimeout  = 2 * time.Minute
	DefaultSchedulingTimeout = 10 * time.Minute

	// volumeGrace is how long a scheduled Pod may stay not ready to start its containers
	// before the Run says so: every Pod passes through that state for a moment (volumes
	// mounting, the sandbox starting), and saying so each time would cost a Run status
	// write per step.
	volumeGrace = 30 * time.Second
)

// stall is what a Pending step Pod waits for, and since when.
type stall struct {
	kind stallKind
	// reason is the step Job's reason should the attempt fail of it
	// (aiasv1alpha1.StepJobReason*); message says what is wrong in the kubelet's or
	// scheduler's words, naming the image, Secret or key.
	reason, message string
	since           time.Time
	// quietUntil: until then the stall is not shown (a state every Pod passes through
	// for a moment); the Run looks again then.
	quietUntil time.Time
	// node and hint say, for stallVolumes, which node has not set the Pod up and where
	// to read why.
	node, hint string
}

// podStall reads what a Pod that has not ended is stuck on; kind stallNone when nothing.
func podStall(pod *corev1.Pod) stall {
	if podEnded(pod) || pod.DeletionTimestamp != nil {
		return stall{}
	}
	for _, set := range [][]corev1.ContainerStatus{pod.Status.InitContainerStatuses, pod.Status.ContainerStatuses} {
		for _, cs := range set {
			w := cs.State.Waiting
			if w == nil {
				continue
			}
			what := containerWhat(cs.Name)
			switch w.Reason {
			case "ErrImagePull", "ImagePullBackOff":
				return stall{kind: stallImage, reason: aiasv1alpha1.StepJobReasonImagePull,
					message: fmt.Sprintf("%s image %q cannot be pulled (%s): %s", what, cs.Image, w.Reason, oneLine(w.Message)),
					since:   pullStart(pod, cs.Name)}
			case "InvalidImageName", "ErrImageNeverPull":
				return stall{kind: stallFatal, reason: aiasv1alpha1.StepJobReasonImagePull,
					message: fmt.Sprintf("%s image %q cannot be pulled (%s): %s", what, cs.Image, w.Reason, oneLine(w.Message))}
			case "CreateContainerConfigError", "CreateContainerError", "RunContainerError":
				return stall{kind: stallFatal, reason: aiasv1alpha1.StepJobReasonContainerConfig,
					message: fmt.Sprintf("%s could not be started (%s): %s", what, w.Reason, oneLine(w.Message))}
			}
		}
	}
	scheduled := pod.CreationTimestamp.Time
	if c := podCondition(pod, corev1.PodScheduled); c != nil {
		if c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return stall{kind: stallNode, reason: aiasv1alpha1.StepJobReasonUnschedulable,
				message: "waiting for a node: " + oneLine(c.Message), since: pod.CreationTimestamp.Time}
		}
		if c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
			scheduled = c.LastTransitionTime.Time
		}
	}
	// Only a kubelet that reports the condition (1.29+) and says False: the node agent
	// under envtest reports none.
	if c := podCondition(pod, corev1.PodReadyToStartContainers); c != nil && c.Status == corev1.ConditionFalse && pod.Spec.NodeName != "" {
		hint := fmt.Sprintf("`kubectl describe pod %s` shows why (FailedMount events)", pod.Name)
		return stall{kind: stallVolumes, reason: aiasv1alpha1.StepJobReasonVolumeMount, since: scheduled,
			quietUntil: scheduled.Add(volumeGrace), node: pod.Spec.NodeName, hint: hint,
			message: fmt.Sprintf("waiting for node %s to set up the step's Pod (its volumes, its sandbox): %s", pod.Spec.NodeName, hint)}
	}
	return stall{}
}

// stallReason reports a container waiting reason podStall acts on.
func stallReason(reason string) bool {
	switch reason {
	case "ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
		"CreateContainerConfigError", "CreateContainerError", "RunContainerError":
		return true
	}
	return false
}

// stallKey is what the Pod watch compares to tell that what a Pod waits for changed:
// the kind only, so that a pull flipping between ErrImagePull and ImagePullBackOff (every
// back-off) wakes nobody.
func stallKey(pod *corev1.Pod) stallKind { return podStall(pod).kind }

// containerWhat names a step Pod's container for a message.
func containerWhat(name string) string {
	if name == stepjob.InstallContainer {
		return "the step runtime's (init container " + name + ")"
	}
	return "the step's"
}

// pullStart approximates when the kubelet began pulling container's image: the init
// container's once the Pod was scheduled, the step container's once the init container
// finished (the Pod's Initialized condition). Container statuses carry no such time.
func pullStart(pod *corev1.Pod, container string) time.Time {
	want := corev1.PodScheduled
	if container != stepjob.InstallContainer {
		want = corev1.PodInitialized
	}
	if c := podCondition(pod, want); c != nil && c.Status == corev1.ConditionTrue && !c.LastTransitionTime.IsZero() {
		return c.LastTransitionTime.Time
	}
	return pod.CreationTimestamp.Time
}

// startTimeouts are the step's imagePullTimeout and schedulingTimeout: its own, else its
// Workflow's, else the manager's defaults.
func (r *RunReconciler) startTimeouts(spec *aiasv1alpha1.WorkflowSpec, step *aiasv1alpha1.WorkflowStep) (pull, schedule time.Duration) {
	pull, schedule = r.ImagePullTimeout, r.SchedulingTimeout
	if pull <= 0 {
		pull = DefaultImagePullTimeout
	}
	if schedule <= 0 {
		schedule = DefaultSchedulingTimeout
	}
	for _, t := range []aiasv1alpha1.StartTimeouts{spec.StartTimeouts, step.StartTimeouts} {
		if t.ImagePullTimeout != nil {
			pull = t.ImagePullTimeout.Duration
		}
		if t.SchedulingTimeout != nil {
			schedule = t.SchedulingTimeout.Duration
		}
	}
	return pull, schedule
}

// stallDeadline is when s fails the attempt; zero for a stall that fails at once.
func stallDeadline(s stall, pull, schedule time.Duration) time.Time {
	switch s.kind {
	case stallImage:
		return s.since.Add(pull)
	case stallNode, stallVolumes:
		return s.since.Add(schedule)
	}
	return time.Time{}
}

// stallFailure is the Job message of an attempt failed by s.
func stallFailure(s stall, pull, schedule time.Duration) string {
	switch s.kind {
	case stallImage:
		return fmt.Sprintf("%s (for %s, the step's imagePullTimeout)", s.message, pull)
	case stallNode:
		return fmt.Sprintf("no node took the step's Pod within %s (its schedulingTimeout): %s", schedule, strings.TrimPrefix(s.message, "waiting for a node: "))
	case stallVolumes:
		return fmt.Sprintf("node %s did not set up the step's Pod (its volumes, its sandbox) within %s (its schedulingTimeout): %s", s.node, schedule, s.hint)
	}
	return s.message
}

// oneLine keeps a kubelet or scheduler message to one line of bounded length: status
// messages are the Run's, which etcd and every watcher carry.
func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	return shortenNote(s, maxEventNote)
}
