package controllers

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"

	"github.com/aias-dev/aias/internal/stepjob"
)

// StepRuntime is how a step Pod gets the step runtime (/aias-step) it runs its command
// under, at stepjob.RunnerPath: the manager's --step-runtime.
type StepRuntime string

const (
	// StepRuntimeInitContainer: an init container of the runner image copies the runtime
	// into an emptyDir. Works on any cluster; costs each step Pod a container start (on
	// a kubelet with the generic PLEG about a second: docs/architecture.md).
	StepRuntimeInitContainer StepRuntime = "init-container"
	// StepRuntimeCSI: the runtime is an inline volume of the step-runtime.aias.dev CSI
	// driver (internal/stepcsi, the chart's DaemonSet on every node that runs steps),
	// ready before the step's container starts, with no init container.
	StepRuntimeCSI StepRuntime = "csi"
)

// ParseStepRuntime reads the flag's value; empty is the default, the init container.
func ParseStepRuntime(s string) (StepRuntime, error) {
	switch StepRuntime(s) {
	case "", StepRuntimeInitContainer:
		return StepRuntimeInitContainer, nil
	case StepRuntimeCSI:
		return StepRuntimeCSI, nil
	}
	return "", fmt.Errorf("step runtime %q: want %q or %q", s, StepRuntimeInitContainer, StepRuntimeCSI)
}

// install adds to a step Pod what puts the runtime at stepjob.RunnerPath: the BinVolume
// (first among the Pod's volumes) and, for the init container way, the container that
// fills it.
func (s StepRuntime) install(ps *corev1.PodSpec, runnerImage string, restricted *corev1.SecurityContext) {
	bin := corev1.Volume{Name: stepjob.BinVolume}
	if s == StepRuntimeCSI {
		bin.CSI = &corev1.CSIVolumeSource{Driver: stepjob.RuntimeDriver, ReadOnly: ptr.To(true)}
	} else {
		bin.EmptyDir = &corev1.EmptyDirVolumeSource{}
		ps.InitContainers = []corev1.Container{{
			Name:            stepjob.InstallContainer,
			Image:           runnerImage,
			Command:         []string{stepjob.StepImageBinary, stepjob.InstallCommand, stepjob.InstallPath},
			VolumeMounts:    []corev1.VolumeMount{{Name: stepjob.BinVolume, MountPath: stepjob.InstallDir}},
			SecurityContext: restricted,
			Resources: corev1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
				Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")},
			},
		}}
	}
	ps.Volumes = append([]corev1.Volume{bin}, ps.Volumes...)
}
