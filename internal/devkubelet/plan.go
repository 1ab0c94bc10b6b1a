package devkubelet

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
)

// podPlan is what a Job's pod template means on this machine, worked out before the
// Job is marked started so that a template the dev kubelet cannot run fails at once.
type podPlan struct {
	dir       string // the pod's directory
	podName   string // stands in for the pod's generated name (fieldRef metadata.name)
	namespace string
	uid       string // the Job's UID stands in for the pod's
	template  corev1.PodTemplateSpec
	volumes   map[string]string // volume name → local directory
	init      []containerPlan
	main      []containerPlan
}

type containerPlan struct {
	corev1.Container
	initContainer bool
	mounts        []mount // longest mountPath first, so nested mounts shadow their parents
}

type mount struct {
	path  string // mountPath in the container
	local string // where it is on this machine
}

// specError is a template the dev kubelet cannot run; it fails the Job with reason.
type specError struct {
	reason, message string
}

func (e *specError) Error() string { return e.message }

func unsupported(format string, args ...any) error {
	return &specError{reason: ReasonUnsupported, message: fmt.Sprintf(format, args...)}
}

// podDir is the pod's directory; it carries the UID so a Job recreated under the same
// name never shares it.
func podDir(workRoot string, job *batchv1.Job) string {
	return filepath.Join(workRoot, fmt.Sprintf("%s_%s_%s", job.Namespace, job.Name, job.UID))
}

// podName mimics the Job controller's generateName (name truncated to 58 characters, a
// dash, 5 characters), with the suffix taken from the Job's UID so it is stable.
func podName(job *batchv1.Job) string {
	base := job.Name + "-"
	if len(base) > 58 {
		base = base[:58]
	}
	uid := strings.ReplaceAll(string(job.UID), "-", "")
	if len(uid) > 5 {
		uid = uid[len(uid)-5:]
	}
	return base + uid
}

func newPodPlan(job *batchv1.Job, workRoot string) (*podPlan, error) {
	if c := ptr.Deref(job.Spec.Completions, 1); c != 1 {
		return nil, unsupported("the dev kubelet runs Jobs with one completion only; this one wants %d", c)
	}
	spec := job.Spec.Template.Spec
	p := &podPlan{
		dir:       podDir(workRoot, job),
		podName:   podName(job),
		namespace: job.Namespace,
		uid:       string(job.UID),
		template:  job.Spec.Template,
		volumes:   map[string]string{},
	}
	for _, v := range spec.Volumes {
		if v.EmptyDir == nil {
			return nil, unsupported("volume %q is a %s volume; the dev kubelet supports only emptyDir volumes", v.Name, volumeKind(v.VolumeSource))
		}
		p.volumes[v.Name] = filepath.Join(p.dir, "volumes", v.Name)
	}
	for _, c := range spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return nil, unsupported("init container %q is a sidecar (restartPolicy Always), which the dev kubelet does not run", c.Name)
		}
		cp, err := p.container(c, true)
		if err != nil {
			return nil, err
		}
		p.init = append(p.init, cp)
	}
	for _, c := range spec.Containers {
		cp, err := p.container(c, false)
		if err != nil {
			return nil, err
		}
		p.main = append(p.main, cp)
	}
	return p, nil
}

func (p *podPlan) container(c corev1.Container, init bool) (containerPlan, error) {
	kind := "container"
	if init {
		kind = "init container"
	}
	if len(c.Command) == 0 {
		return containerPlan{}, unsupported("%s %q has no command; the dev kubelet has no image entrypoint to fall back to", kind, c.Name)
	}
	cp := containerPlan{Container: c, initContainer: init}
	for _, m := range c.VolumeMounts {
		local, ok := p.volumes[m.Name]
		if !ok { // the API server refuses this; be safe anyway
			return cp, unsupported("%s %q mounts unknown volume %q", kind, c.Name, m.Name)
		}
		if m.SubPathExpr != "" {
			return cp, unsupported("%s %q mounts volume %q with subPathExpr, which the dev kubelet does not support", kind, c.Name, m.Name)
		}
		if m.SubPath != "" {
			if !filepath.IsLocal(m.SubPath) {
				return cp, unsupported("%s %q mounts volume %q with subPath %q outside the volume", kind, c.Name, m.Name, m.SubPath)
			}
			local = filepath.Join(local, m.SubPath)
		}
		cp.mounts = append(cp.mounts, mount{path: filepath.Clean(m.MountPath), local: local})
	}
	slices.SortStableFunc(cp.mounts, func(a, b mount) int { return len(b.path) - len(a.path) })
	for _, e := range c.Env {
		if why := p.checkEnvSource(e); why != "" {
			return cp, unsupported("%s %q: env %s: %s", kind, c.Name, e.Name, why)
		}
	}
	return cp, nil
}

// kind names the container for messages.
func (c *containerPlan) kind() string {
	if c.initContainer {
		return "init container " + c.Name
	}
	return "container " + c.Name
}

// volumeKind names the volume source that is set, e.g. "hostPath", from its JSON form
// so that every kind, present and future, gets its API name.
func volumeKind(src corev1.VolumeSource) string {
	raw, err := json.Marshal(src)
	if err == nil {
		var fields map[string]json.RawMessage
		if json.Unmarshal(raw, &fields) == nil {
			for name := range fields {
				return name
			}
		}
	}
	return "non-emptyDir"
}
