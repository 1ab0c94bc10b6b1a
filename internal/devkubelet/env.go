package devkubelet

import (
	"context"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// containerEnv resolves a container's environment as the kubelet does when it starts the
// container: envFrom sources in order, then env entries in order (overriding envFrom),
// each literal value's $(VAR) references expanded against the variables defined before
// it. Secrets and ConfigMaps are read at this moment; a missing one that is not optional
// is an error the caller retries, like the kubelet's CreateContainerConfigError.
// Values are in container terms: mount paths are rewritten later, once.
func (k *Kubelet) containerEnv(ctx context.Context, p *podPlan, c *containerPlan) (map[string]string, error) {
	r := &refReader{reader: k.APIReader, namespace: p.namespace,
		secrets: map[string]*corev1.Secret{}, configMaps: map[string]*corev1.ConfigMap{}}
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		switch {
		case from.ConfigMapRef != nil:
			cm, err := r.configMap(ctx, from.ConfigMapRef.Name, ptr.Deref(from.ConfigMapRef.Optional, false))
			if err != nil {
				return nil, err
			}
			if cm != nil {
				for key, v := range cm.Data {
					env[from.Prefix+key] = v
				}
			}
		case from.SecretRef != nil:
			s, err := r.secret(ctx, from.SecretRef.Name, ptr.Deref(from.SecretRef.Optional, false))
			if err != nil {
				return nil, err
			}
			if s != nil {
				for key, v := range s.Data {
					env[from.Prefix+key] = string(v)
				}
			}
		}
	}
	for _, e := range c.Env {
		if e.Value != "" || e.ValueFrom == nil {
			env[e.Name] = expand(e.Value, env)
			continue
		}
		v, ok, err := k.envSource(ctx, r, p, e.ValueFrom)
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
func (k *Kubelet) envSource(ctx context.Context, r *refReader, p *podPlan, src *corev1.EnvVarSource) (string, bool, error) {
	switch {
	case src.FieldRef != nil:
		v, _ := p.field(src.FieldRef.FieldPath) // checked when the plan was made
		return v, true, nil
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		optional := ptr.Deref(ref.Optional, false)
		cm, err := r.configMap(ctx, ref.Name, optional)
		if err != nil || cm == nil {
			return "", false, err
		}
		v, ok := cm.Data[ref.Key]
		if !ok && !optional {
			return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, p.namespace, ref.Name)
		}
		return v, ok, nil
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		optional := ptr.Deref(ref.Optional, false)
		s, err := r.secret(ctx, ref.Name, optional)
		if err != nil || s == nil {
			return "", false, err
		}
		v, ok := s.Data[ref.Key]
		if !ok && !optional {
			return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, p.namespace, ref.Name)
		}
		return string(v), ok, nil
	}
	return "", false, nil // checked when the plan was made
}

// checkEnvSource says why the dev kubelet cannot resolve an env entry, or "".
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

// field answers a downward API fieldRef for the pod that would run the Job: metadata
// from the pod template, this machine for the node and the IPs.
func (p *podPlan) field(path string) (string, bool) {
	for _, sub := range []struct {
		prefix string
		m      map[string]string
	}{
		{"metadata.labels['", p.template.Labels},
		{"metadata.annotations['", p.template.Annotations},
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
		return p.podName, true
	case "metadata.namespace":
		return p.namespace, true
	case "metadata.uid":
		return p.uid, true
	case "spec.serviceAccountName":
		return p.template.Spec.ServiceAccountName, true
	case "spec.nodeName":
		host, _ := os.Hostname()
		return host, true
	case "status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs":
		return "127.0.0.1", true
	}
	return "", false
}

// refReader reads each Secret and ConfigMap once per container start.
type refReader struct {
	reader     client.Reader
	namespace  string
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

// secret returns nil without error for a missing optional Secret.
func (r *refReader) secret(ctx context.Context, name string, optional bool) (*corev1.Secret, error) {
	return readRef(ctx, r, r.secrets, &corev1.Secret{}, "secret", name, optional)
}

// configMap returns nil without error for a missing optional ConfigMap.
func (r *refReader) configMap(ctx context.Context, name string, optional bool) (*corev1.ConfigMap, error) {
	return readRef(ctx, r, r.configMaps, &corev1.ConfigMap{}, "configmap", name, optional)
}

// readRef reads the named object into obj once per container start (seen remembers it);
// a missing optional one is nil without error.
func readRef[T client.Object](ctx context.Context, r *refReader, seen map[string]T, obj T, kind, name string, optional bool) (T, error) {
	var none T
	if o, ok := seen[name]; ok {
		return o, nil
	}
	if err := r.reader.Get(ctx, client.ObjectKey{Namespace: r.namespace, Name: name}, obj); err != nil {
		if apierrors.IsNotFound(err) && optional {
			return none, nil
		}
		return none, fmt.Errorf("%s %s/%s: %w", kind, r.namespace, name, err)
	}
	seen[name] = obj
	return obj, nil
}
