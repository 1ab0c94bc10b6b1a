package nodeagent

import (
	"context"
	"fmt"
	"maps"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// containerEnv resolves a container's environment as the kubelet does when it starts the
// container: envFrom sources in order, then env entries in order (overriding envFrom),
// each literal value's $(VAR) references expanded against the variables defined before
// it. Secrets and ConfigMaps are read at this moment; a missing one that is not optional
// is an error the caller retries, like the kubelet's CreateContainerConfigError.
// Values are in container terms: mount paths are rewritten later, once.
func (a *Agent) containerEnv(ctx context.Context, p *podPlan, c *containerPlan) (map[string]string, error) {
	r := &refReader{agent: a, namespace: p.pod.Namespace, seen: map[string]map[string]string{}}
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		var data map[string]string
		var err error
		switch {
		case from.ConfigMapRef != nil:
			data, err = r.data(ctx, kindConfigMap, from.ConfigMapRef.Name, ptr.Deref(from.ConfigMapRef.Optional, false))
		case from.SecretRef != nil:
			data, err = r.data(ctx, kindSecret, from.SecretRef.Name, ptr.Deref(from.SecretRef.Optional, false))
		}
		if err != nil {
			return nil, err
		}
		for key, v := range data {
			env[from.Prefix+key] = v
		}
	}
	for _, e := range c.Env {
		if e.Value != "" || e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, env)
			continue
		}
		v, ok, err := envSource(ctx, r, p, e.ValueFrom)
		if err != nil {
			return nil, fmt.Errorf("env %s: %w", e.Name, err)
		}
		if ok {
			env[e.Name] = v
		}
	}
	return env, nil
}

// envSource resolves valueFrom; ok is false for an optional reference that is missing,
// which leaves the variable unset.
func envSource(ctx context.Context, r *refReader, p *podPlan, src *corev1.EnvVarSource) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, _ := p.field(src.FieldRef.FieldPath) // checked when the plan was made
		return v, true, nil
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		return r.key(ctx, kindConfigMap, ref.Name, ref.Key, ptr.Deref(ref.Optional, false))
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		return r.key(ctx, kindSecret, ref.Name, ref.Key, ptr.Deref(ref.Optional, false))
	}
	return "", false, nil // checked when the plan was made
}

// checkEnvSource says why the node agent cannot resolve an env entry, or "".
func (p *podPlan) checkEnvSource(e corev1.EnvVar) string {
	src := e.ValueFrom
	switch {
	case e.Value != "" || src == nil:
		return ""
	case src.FieldRef != nil:
		if _, ok := p.field(src.FieldRef.FieldPath); !ok {
			return fmt.Sprintf("fieldRef %q is not supported", src.FieldRef.FieldPath)
		}
		return ""
	case src.ConfigMapKeyRef != nil, src.SecretKeyRef != nil:
		return ""
	case src.ResourceFieldRef != nil:
		return "resourceFieldRef is not supported"
	case src.FileKeyRef != nil:
		return "fileKeyRef is not supported"
	}
	return "unknown valueFrom source"
}

// field answers a downward API fieldRef: the Pod's metadata, this node, and the
// loopback address for the IPs.
func (p *podPlan) field(path string) (string, bool) {
	for _, sub := range []struct {
		prefix string
		m      map[string]string
	}{
		{"metadata.labels['", p.pod.Labels},
		{"metadata.annotations['", p.pod.Annotations},
	} {
		if key, ok := strings.CutPrefix(path, sub.prefix); ok {
			if key, ok = strings.CutSuffix(key, "']"); ok {
				return sub.m[key], true
			}
			return "", false
		}
	}
	switch path {
	case "metadata.name":
		return p.pod.Name, true
	case "metadata.namespace":
		return p.pod.Namespace, true
	case "metadata.uid":
		return string(p.pod.UID), true
	case "spec.serviceAccountName":
		return p.pod.Spec.ServiceAccountName, true
	case "spec.nodeName":
		return p.nodeName, true
	case "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs":
		return nodeIP, true
	}
	return "", false
}

// The kinds env can refer to.
const (
	kindConfigMap = "ConfigMap"
	kindSecret    = "Secret"
)

// refReader reads each Secret and ConfigMap once per container start, straight from the
// apiserver as the kubelet's Get strategy does.
type refReader struct {
	agent     *Agent
	namespace string
	seen      map[string]map[string]string // "Kind/name" → its data, for the objects found
}

// key resolves a key of a ConfigMap or Secret; ok is false for an optional one that is
// missing.
func (r *refReader) key(ctx context.Context, kind, name, key string, optional bool) (string, bool, error) {
	data, err := r.data(ctx, kind, name, optional)
	if err != nil || data == nil {
		return "", false, err
	}
	v, ok := data[key]
	if !ok && !optional {
		return "", false, fmt.Errorf("couldn't find key %s in %s %s/%s", key, kind, r.namespace, name)
	}
	return v, ok, nil
}

// data is the data of a ConfigMap or Secret (its values as strings), read once per
// container start; nil without error for an optional one that is missing.
func (r *refReader) data(ctx context.Context, kind, name string, optional bool) (map[string]string, error) {
	if d, ok := r.seen[kind+"/"+name]; ok {
		return d, nil
	}
	d := map[string]string{}
	var err error
	if kind == kindConfigMap {
		var cm *corev1.ConfigMap
		if cm, err = r.agent.client.CoreV1().ConfigMaps(r.namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			maps.Copy(d, cm.Data)
		}
	} else {
		var s *corev1.Secret
		if s, err = r.agent.client.CoreV1().Secrets(r.namespace).Get(ctx, name, metav1.GetOptions{}); err == nil {
			for k, v := range s.Data {
				d[k] = string(v)
			}
		}
	}
	if err != nil {
		if apierrors.IsNotFound(err) && optional {
			return nil, nil
		}
		return nil, fmt.Errorf("%s %s/%s: %w", strings.ToLower(kind), r.namespace, name, err)
	}
	r.seen[kind+"/"+name] = d
	return d, nil
}
