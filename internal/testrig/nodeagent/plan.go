package nodeagent

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"

	corev1 "k8s.io/api/core/v1"
)

// podPlan is what a Pod means on this machine, worked out before anything runs so that
// a Pod the agent cannot run fails at once.
type podPlan struct {
	dir      string      // the pod's directory
	pod      *corev1.Pod // as first seen: metadata for the downward API
	nodeName string
	volumes  map[string]string // volume name → local directory
	init     []containerPlan
	main     []containerPlan
}

type containerPlan struct {
	corev1.Container
	initContainer bool
	mounts        []mount // longest mountPath first, so nested mounts shadow their parents
	user          *user   // nil: the agent's own user
}

type mount struct {
	path  string // mountPath in the container
	local string // where it is on this machine
}

// unsupportedError is a Pod the agent cannot run; it fails the Pod with ReasonUnsupported.
type unsupportedError struct{ message string }

func (e *unsupportedError) Error() string { return e.message }

func unsupported(format string, args ...any) error {
	return &unsupportedError{message: fmt.Sprintf(format, args...)}
}

// podDir is the pod's directory; it carries the UID so a Pod recreated under the same
// name never shares it.
func podDir(workRoot string, pod *corev1.Pod) string {
	return filepath.Join(workRoot, fmt.Sprintf("%s_%s_%s", pod.Namespace, pod.Name, pod.UID))
}

// newPodPlan checks that the agent can run pod and says how. switchUser: the agent
// runs as root and so can honour runAsUser and runAsGroup.
func newPodPlan(pod *corev1.Pod, workRoot, nodeName string, switchUser bool) (*podPlan, error) {
	spec := &pod.Spec
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		return nil, unsupported("restartPolicy %s is not supported: the node agent runs every container once (restartPolicy Never)", spec.RestartPolicy)
	}
	p := &podPlan{
		dir:      podDir(workRoot, pod),
		pod:      pod,
		nodeName: nodeName,
		volumes:  map[string]string{},
	}
	for _, v := range spec.Volumes {
		if v.EmptyDir == nil {
			if isServiceAccountToken(v) {
				return nil, unsupported("volume %q is the service account token's projected volume, which the node agent does not provide; set automountServiceAccountToken: false", v.Name)
			}
			return nil, unsupported("volume %q is a %s volume; the node agent supports only emptyDir volumes", v.Name, volumeKind(v.VolumeSource))
		}
		p.volumes[v.Name] = filepath.Join(p.dir, "volumes", v.Name)
	}
	for _, c := range spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			return nil, unsupported("init container %q is a sidecar (restartPolicy Always), which the node agent does not run", c.Name)
		}
		cp, err := p.container(c, true, switchUser)
		if err != nil {
			return nil, err
		}
		p.init = append(p.init, cp)
	}
	for _, c := range spec.Containers {
		cp, err := p.container(c, false, switchUser)
		if err != nil {
			return nil, err
		}
		p.main = append(p.main, cp)
	}
	return p, nil
}

func (p *podPlan) container(c corev1.Container, init, switchUser bool) (containerPlan, error) {
	cp := containerPlan{Container: c, initContainer: init}
	kind := cp.kind()
	if len(c.Command) == 0 {
		return cp, unsupported("%s has no command; the node agent has no image entrypoint to fall back to", kind)
	}
	for _, m := range c.VolumeMounts {
		local, ok := p.volumes[m.Name]
		if !ok { // the API server refuses this; be safe anyway
			return cp, unsupported("%s mounts unknown volume %q", kind, m.Name)
		}
		if m.SubPathExpr != "" {
			return cp, unsupported("%s mounts volume %q with subPathExpr, which the node agent does not support", kind, m.Name)
		}
		if m.SubPath != "" {
			if !filepath.IsLocal(m.SubPath) {
				return cp, unsupported("%s mounts volume %q with subPath %q outside the volume", kind, m.Name, m.SubPath)
			}
			local = filepath.Join(local, m.SubPath)
		}
		cp.mounts = append(cp.mounts, mount{path: filepath.Clean(m.MountPath), local: local})
	}
	slices.SortStableFunc(cp.mounts, func(a, b mount) int { return len(b.path) - len(a.path) })
	for _, e := range c.Env {
		if why := p.checkEnvSource(e); why != "" {
			return cp, unsupported("%s: env %s: %s", kind, e.Name, why)
		}
	}
	if switchUser {
		u, err := p.user(c)
		if err != nil {
			return cp, err
		}
		cp.user = u
	}
	return cp, nil
}

// user is the identity the container runs as, the container's securityContext over the
// pod's, as a container runtime resolves it for an image without a USER: root unless
// runAsUser says otherwise, group 0 unless runAsGroup does, plus the pod's
// supplementalGroups and fsGroup. nil means root, the agent's own user.
func (p *podPlan) user(c corev1.Container) (*user, error) {
	var uid, gid *int64
	var nonRoot *bool
	var groups []uint32
	if psc := p.pod.Spec.SecurityContext; psc != nil {
		uid, gid, nonRoot = psc.RunAsUser, psc.RunAsGroup, psc.RunAsNonRoot
		for _, g := range psc.SupplementalGroups {
			groups = append(groups, uint32(g))
		}
		if psc.FSGroup != nil {
			groups = append(groups, uint32(*psc.FSGroup))
		}
	}
	if sc := c.SecurityContext; sc != nil {
		uid, gid, nonRoot = firstSet(sc.RunAsUser, uid), firstSet(sc.RunAsGroup, gid), firstSet(sc.RunAsNonRoot, nonRoot)
	}
	if nonRoot != nil && *nonRoot && (uid == nil || *uid == 0) {
		return nil, unsupported("%s must run as non-root (runAsNonRoot) but names no runAsUser other than 0; the node agent has no image user to fall back to", (&containerPlan{Container: c}).kind())
	}
	if uid == nil && gid == nil {
		return nil, nil
	}
	u := &user{groups: groups}
	if uid != nil {
		u.uid = uint32(*uid)
	}
	if gid != nil {
		u.gid = uint32(*gid)
	}
	return u, nil
}

// switchesUser: a container runs as another user than root, the agent's.
func (p *podPlan) switchesUser() bool {
	for _, c := range slices.Concat(p.init, p.main) {
		if c.user != nil && c.user.uid != 0 {
			return true
		}
	}
	return false
}

// firstSet returns the first non-nil value.
func firstSet[T any](a, b *T) *T {
	if a != nil {
		return a
	}
	return b
}

// kind names the container for messages.
func (c *containerPlan) kind() string {
	if c.initContainer {
		return fmt.Sprintf("init container %q", c.Name)
	}
	return fmt.Sprintf("container %q", c.Name)
}

// isServiceAccountToken: the projected volume ServiceAccount admission adds for
// automountServiceAccountToken.
func isServiceAccountToken(v corev1.Volume) bool {
	if v.Projected == nil {
		return false
	}
	for _, s := range v.Projected.Sources {
		if s.ServiceAccountToken != nil {
			return true
		}
	}
	return false
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
