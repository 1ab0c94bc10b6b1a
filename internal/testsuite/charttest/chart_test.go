package charttest

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
)

const (
	chartDir    = "../../../charts/aias"
	namespace   = "aias-system"
	releaseName = "aias"
)

// rendered is one chart render: every document as unstructured, in order.
type rendered struct {
	objs []*unstructured.Unstructured
}

// render renders the chart as `helm template` does (install, dry run, client only): values
// are coalesced with values.yaml and validated against values.schema.json.
func render(t *testing.T, vals map[string]any) (*rendered, error) {
	t.Helper()
	chrt, err := loader.Load(chartDir)
	if err != nil {
		t.Fatalf("loading the chart: %v", err)
	}
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun = true
	inst.ClientOnly = true
	inst.Replace = true
	inst.ReleaseName = releaseName
	inst.Namespace = namespace
	rel, err := inst.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	manifest := rel.Manifest
	for _, h := range rel.Hooks {
		manifest += "\n---\n" + h.Manifest
	}
	r := &rendered{}
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(manifest, -1) {
		var m map[string]any
		if err := yaml.Unmarshal([]byte(doc), &m); err != nil {
			t.Fatalf("document %d does not parse: %v\n%s", i, err, doc)
		}
		if len(m) == 0 {
			continue
		}
		r.objs = append(r.objs, &unstructured.Unstructured{Object: m})
	}
	return r, nil
}

func mustRender(t *testing.T, vals map[string]any) *rendered {
	t.Helper()
	r, err := render(t, vals)
	if err != nil {
		t.Fatalf("render: %v", err)
	}
	return r
}

// kinds counts the rendered objects per kind.
func (r *rendered) kinds() map[string]int {
	k := map[string]int{}
	for _, o := range r.objs {
		k[o.GetKind()]++
	}
	return k
}

func (r *rendered) ofKind(kind string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	for _, o := range r.objs {
		if o.GetKind() == kind {
			out = append(out, o)
		}
	}
	return out
}

func (r *rendered) get(t *testing.T, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range r.objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

// typed converts a rendered object into its Go type, refusing fields the type does not have
// (a misspelt or misplaced field in a template fails here, not at apply time).
func typed[T any](t *testing.T, u *unstructured.Unstructured) *T {
	t.Helper()
	out := new(T)
	if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(u.Object, out, true); err != nil {
		t.Fatalf("%s %s: %v", u.GetKind(), u.GetName(), err)
	}
	return out
}

// checkBuiltinsStrict decodes every object of a built-in kind strictly.
func checkBuiltinsStrict(t *testing.T, r *rendered) {
	t.Helper()
	for _, o := range r.objs {
		gvk := o.GroupVersionKind()
		obj, err := scheme.Scheme.New(gvk)
		if err != nil {
			continue // cert-manager and Prometheus Operator kinds
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructuredWithValidation(o.Object, obj, true); err != nil {
			t.Errorf("%s %s: %v", gvk.Kind, o.GetName(), err)
		}
	}
}

// fullValues turns every optional feature on.
func fullValues() map[string]any {
	return map[string]any{
		"replicaCount":  2,
		"stepTokenKey":  map[string]any{"existingSecret": "aias-step-token-key"},
		"publicBaseURL": "https://hooks.example.com",
		"hooks": map[string]any{"ingress": map[string]any{
			"enabled": true, "className": "nginx", "host": "hooks.example.com",
			"tls": []any{map[string]any{"secretName": "aias-hooks-tls", "hosts": []any{"hooks.example.com"}}},
		}, "trustedProxies": []any{"10.0.0.0/8", "fd00::/8"}},
		"metrics": map[string]any{"readerSubjects": []any{
			map[string]any{"kind": "ServiceAccount", "name": "prometheus-k8s", "namespace": "monitoring"},
		}},
		"admission": map[string]any{"enabled": true, "certManager": map[string]any{"enabled": true}},
		"webhookserver": map[string]any{
			"replicaCount":        3,
			"podDisruptionBudget": map[string]any{"minAvailable": 2},
			"nodeSelector":        map[string]any{"kubernetes.io/os": "linux"},
		},
		"topologySpreadConstraints": []any{map[string]any{
			"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone", "whenUnsatisfiable": "ScheduleAnyway",
		}},
		"networkPolicy": map[string]any{
			"enabled": true,
			"hooks": map[string]any{"from": []any{map[string]any{"namespaceSelector": map[string]any{
				"matchLabels": map[string]any{"kubernetes.io/metadata.name": "ingress-nginx"}}}}},
			"internal": map[string]any{"extraFrom": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.0.0.0/8"}}}},
		},
		"serviceMonitor": map[string]any{"enabled": true, "labels": map[string]any{"release": "kube-prometheus-stack"}, "interval": "15s"},
		"billing":        map[string]any{"stripe": map[string]any{"existingSecret": "aias-stripe-webhook"}},
	}
}

// productionValues reads the example charts/aias/values-production.yaml.
func productionValues(t *testing.T) map[string]any {
	t.Helper()
	var vals map[string]any
	readYAML(t, filepath.Join(chartDir, "values-production.yaml"), &vals)
	return vals
}

func TestLint(t *testing.T) {
	for name, vals := range map[string]map[string]any{"defaults": nil, "everything on": fullValues(), "production example": productionValues(t)} {
		t.Run(name, func(t *testing.T) {
			l := lint.All(chartDir, vals, namespace, false)
			for _, m := range l.Messages {
				t.Logf("lint: %s", m)
			}
			if l.HighestSeverity >= support.ErrorSev {
				t.Fatalf("lint found errors")
			}
		})
	}
}

func TestRenderDefaults(t *testing.T) {
	r := mustRender(t, nil)
	checkBuiltinsStrict(t, r)
	// Admission is on (its Service, the empty certificate Secret beside the step-token
	// key, the webhook configuration), the default Plan and the finalizer policy are
	// shipped: defaults_test.go checks what they hold.
	want := map[string]int{
		"Deployment": 2, "Service": 6, "PodDisruptionBudget": 2, "ServiceAccount": 2, "Secret": 2,
		"ValidatingWebhookConfiguration": 1, "Plan": 1, "ValidatingAdmissionPolicy": 1, "ValidatingAdmissionPolicyBinding": 1,
	}
	got := r.kinds()
	for kind, n := range want {
		if got[kind] != n {
			t.Errorf("%d %s rendered, want %d (all: %v)", got[kind], kind, n, got)
		}
	}
	for _, kind := range []string{"NetworkPolicy", "ServiceMonitor", "Ingress", "Certificate", "Issuer", "ClusterRoleBinding/aias-metrics-reader"} {
		k, name, _ := strings.Cut(kind, "/")
		for _, o := range r.ofKind(k) {
			if name == "" || o.GetName() == name {
				t.Errorf("%s %s rendered by default", k, o.GetName())
			}
		}
	}
	checkWorkloads(t, r)
	// The webhookserver spreads over nodes by default, counting only its own pods.
	ws := typed[appsv1.Deployment](t, r.get(t, "Deployment", "aias-webhookserver"))
	tsc := ws.Spec.Template.Spec.TopologySpreadConstraints
	if len(tsc) != 1 || tsc[0].TopologyKey != "kubernetes.io/hostname" || tsc[0].WhenUnsatisfiable != corev1.ScheduleAnyway || tsc[0].MaxSkew != 1 {
		t.Errorf("webhookserver topologySpreadConstraints = %+v, want one on kubernetes.io/hostname, ScheduleAnyway", tsc)
	}
	for _, name := range []string{"aias-manager", "aias-webhookserver"} {
		pdb := typed[policyv1.PodDisruptionBudget](t, r.get(t, "PodDisruptionBudget", name))
		if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.IntValue() != 1 || pdb.Spec.MinAvailable != nil {
			t.Errorf("PodDisruptionBudget %s = %+v, want maxUnavailable 1 (never blocks a drain)", name, pdb.Spec)
		}
	}
}

func TestRenderEverythingOn(t *testing.T) {
	r := mustRender(t, fullValues())
	checkBuiltinsStrict(t, r)
	got := r.kinds()
	for kind, n := range map[string]int{
		"Deployment": 2, "Service": 6, "PodDisruptionBudget": 2, "NetworkPolicy": 2, "ServiceMonitor": 2,
		"Ingress": 1, "ValidatingWebhookConfiguration": 1, "Certificate": 1, "Issuer": 1,
	} {
		if got[kind] != n {
			t.Errorf("%d %s rendered, want %d (all: %v)", got[kind], kind, n, got)
		}
	}
	if got["Secret"] != 0 {
		t.Errorf("%d Secrets rendered with database.existingSecret and stepTokenKey.existingSecret, want 0", got["Secret"])
	}
	crb := r.get(t, "ClusterRoleBinding", "aias-metrics-reader")
	if s, _, _ := unstructured.NestedSlice(crb.Object, "subjects"); len(s) != 1 {
		t.Errorf("metrics-reader binding subjects = %v, want metrics.readerSubjects", s)
	}
	checkWorkloads(t, r)
	checkNetworkPolicies(t, r)
	checkServiceMonitors(t, r, true, true)

	ws := typed[appsv1.Deployment](t, r.get(t, "Deployment", "aias-webhookserver"))
	if args := ws.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--public-trusted-proxies=10.0.0.0/8,fd00::/8") {
		t.Errorf("webhookserver args %v lack hooks.trustedProxies", args)
	}
	if ws.Spec.Template.Spec.NodeSelector["kubernetes.io/os"] != "linux" {
		t.Errorf("webhookserver nodeSelector = %v, want webhookserver.nodeSelector", ws.Spec.Template.Spec.NodeSelector)
	}
	mgr := typed[appsv1.Deployment](t, r.get(t, "Deployment", "aias-manager"))
	if tsc := mgr.Spec.Template.Spec.TopologySpreadConstraints; len(tsc) != 1 || tsc[0].TopologyKey != "topology.kubernetes.io/zone" {
		t.Errorf("manager topologySpreadConstraints = %+v, want the one from values", tsc)
	}
	pdb := typed[policyv1.PodDisruptionBudget](t, r.get(t, "PodDisruptionBudget", "aias-webhookserver"))
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != 2 || pdb.Spec.MaxUnavailable != nil {
		t.Errorf("webhookserver PodDisruptionBudget = %+v, want minAvailable 2 only", pdb.Spec)
	}
}

func TestRenderProductionExample(t *testing.T) {
	r := mustRender(t, productionValues(t))
	checkBuiltinsStrict(t, r)
	checkWorkloads(t, r)
	checkNetworkPolicies(t, r)
	if n := len(r.ofKind("ServiceMonitor")); n != 2 {
		t.Errorf("%d ServiceMonitors, want 2", n)
	}
	if n := len(r.ofKind("Secret")); n != 0 {
		t.Errorf("%d Secrets rendered: the example must render the same on every run", n)
	}
}

func TestRenderInsecureMetricsAndNoMetrics(t *testing.T) {
	vals := fullValues()
	vals["metrics"] = map[string]any{"secure": false}
	r := mustRender(t, vals)
	checkServiceMonitors(t, r, false, true)
	checkNetworkPolicies(t, r)
	vals["webhookserver"] = map[string]any{"metrics": map[string]any{"secure": false}}
	r = mustRender(t, vals)
	checkServiceMonitors(t, r, false, false)
	for _, o := range r.ofKind("ClusterRole") {
		if o.GetName() == "aias-metrics-reader" {
			t.Error("ClusterRole aias-metrics-reader rendered with no secure metrics endpoint")
		}
	}

	vals = fullValues()
	vals["metrics"] = map[string]any{"enabled": false}
	vals["admission"] = map[string]any{"enabled": false}
	vals["webhookserver"] = map[string]any{"metrics": map[string]any{"enabled": false}}
	r = mustRender(t, vals)
	if n := r.kinds()["ServiceMonitor"]; n != 0 {
		t.Errorf("%d ServiceMonitors without metrics, want 0", n)
	}
	checkNetworkPolicies(t, r)
	np := typed[networkingv1.NetworkPolicy](t, r.get(t, "NetworkPolicy", "aias-manager"))
	if len(np.Spec.Ingress) != 0 {
		t.Errorf("manager NetworkPolicy without admission and metrics allows %+v, want nothing", np.Spec.Ingress)
	}
}

// TestTemplateIsStable: with the step-token key in an existing Secret (what GitOps users must
// set), two renders are byte-identical, so Argo CD and Flux see no drift.
func TestTemplateIsStable(t *testing.T) {
	vals := map[string]any{"stepTokenKey": map[string]any{"existingSecret": "aias-step-token-key"}}
	a, b := mustRender(t, vals), mustRender(t, vals)
	ya, _ := yaml.Marshal(a.objs)
	yb, _ := yaml.Marshal(b.objs)
	if string(ya) != string(yb) {
		t.Fatalf("two renders differ")
	}
}

// checkWorkloads: each Deployment's selector, PodDisruptionBudget and topology spread
// constraints select its pod template, and every container has requests and limits.
func checkWorkloads(t *testing.T, r *rendered) {
	t.Helper()
	deps := map[string]*appsv1.Deployment{}
	for _, u := range r.ofKind("Deployment") {
		d := typed[appsv1.Deployment](t, u)
		deps[d.Name] = d
		podLabels := labels.Set(d.Spec.Template.Labels)
		if !selects(t, d.Spec.Selector, podLabels) {
			t.Errorf("Deployment %s: selector %v does not select its pods %v", d.Name, d.Spec.Selector, podLabels)
		}
		for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
			if c.LabelSelector == nil || !selects(t, c.LabelSelector, podLabels) {
				t.Errorf("Deployment %s: topology spread labelSelector %v does not select its pods", d.Name, c.LabelSelector)
			}
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, rl := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
				if rl.Cpu().IsZero() || rl.Memory().IsZero() {
					t.Errorf("Deployment %s container %s: resources %+v, want cpu and memory requests and limits", d.Name, c.Name, c.Resources)
				}
			}
		}
		// The other Deployment's pods must not be selected (the selectors differ by component).
		for _, o := range r.ofKind("Deployment") {
			if o.GetName() != d.Name {
				other, _, _ := unstructured.NestedStringMap(o.Object, "spec", "template", "metadata", "labels")
				if selects(t, d.Spec.Selector, other) {
					t.Errorf("Deployment %s selects the pods of %s", d.Name, o.GetName())
				}
			}
		}
	}
	for _, u := range r.ofKind("PodDisruptionBudget") {
		pdb := typed[policyv1.PodDisruptionBudget](t, u)
		d := deps[pdb.Name]
		if d == nil {
			t.Errorf("PodDisruptionBudget %s has no Deployment of its name", pdb.Name)
			continue
		}
		if !selects(t, pdb.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("PodDisruptionBudget %s: selector %v does not select the pods of its Deployment", pdb.Name, pdb.Spec.Selector)
		}
		if (pdb.Spec.MinAvailable == nil) == (pdb.Spec.MaxUnavailable == nil) {
			t.Errorf("PodDisruptionBudget %s: want exactly one of minAvailable and maxUnavailable, got %+v", pdb.Name, pdb.Spec)
		}
	}
	// Every Service selects the pods of one Deployment and targets ports its container has.
	for _, u := range r.ofKind("Service") {
		svc := typed[corev1.Service](t, u)
		d := deploymentSelecting(t, deps, svc.Spec.Selector)
		if d == nil {
			t.Errorf("Service %s selects no Deployment's pods", svc.Name)
			continue
		}
		for _, p := range svc.Spec.Ports {
			if !hasContainerPort(d, p.TargetPort.String()) {
				t.Errorf("Service %s port %s targets %s, which Deployment %s does not expose", svc.Name, p.Name, p.TargetPort.String(), d.Name)
			}
		}
	}
}

func selects(t *testing.T, sel *metav1.LabelSelector, l map[string]string) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("selector %v: %v", sel, err)
		return false
	}
	return !s.Empty() && s.Matches(labels.Set(l))
}

func deploymentSelecting(t *testing.T, deps map[string]*appsv1.Deployment, sel map[string]string) *appsv1.Deployment {
	t.Helper()
	var found *appsv1.Deployment
	for _, d := range deps {
		if selects(t, &metav1.LabelSelector{MatchLabels: sel}, d.Spec.Template.Labels) {
			if found != nil {
				t.Errorf("selector %v matches the pods of both %s and %s", sel, found.Name, d.Name)
			}
			found = d
		}
	}
	return found
}

// hasContainerPort reports whether a container of d exposes the port, by name or number.
func hasContainerPort(d *appsv1.Deployment, port string) bool {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == port || fmt.Sprint(p.ContainerPort) == port {
				return true
			}
		}
	}
	return false
}

func checkNetworkPolicies(t *testing.T, r *rendered) {
	t.Helper()
	deps := map[string]*appsv1.Deployment{}
	for _, u := range r.ofKind("Deployment") {
		d := typed[appsv1.Deployment](t, u)
		deps[d.Name] = d
	}
	nps := r.ofKind("NetworkPolicy")
	if len(nps) != 2 {
		t.Fatalf("%d NetworkPolicies, want 2", len(nps))
	}
	for _, u := range nps {
		np := typed[networkingv1.NetworkPolicy](t, u)
		d := deps[np.Name]
		if d == nil || !selects(t, &np.Spec.PodSelector, d.Spec.Template.Labels) {
			t.Errorf("NetworkPolicy %s does not select the pods of the Deployment of its name", np.Name)
			continue
		}
		if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
			t.Errorf("NetworkPolicy %s policyTypes %v, want [Ingress]", np.Name, np.Spec.PolicyTypes)
		}
		byPort := map[string][]networkingv1.NetworkPolicyPeer{}
		for _, rule := range np.Spec.Ingress {
			if len(rule.Ports) == 0 {
				t.Errorf("NetworkPolicy %s: a rule without ports opens every port", np.Name)
			}
			for _, p := range rule.Ports {
				if p.Port == nil || !hasContainerPort(d, p.Port.String()) {
					t.Errorf("NetworkPolicy %s: port %v is no container port of %s", np.Name, p.Port, d.Name)
					continue
				}
				byPort[p.Port.String()] = rule.From
			}
		}
		// Every container port except the health port (probes come from the node) has a rule.
		for _, c := range d.Spec.Template.Spec.Containers {
			for _, p := range c.Ports {
				if _, ok := byPort[p.Name]; !ok && p.Name != "health" {
					t.Errorf("NetworkPolicy %s: container port %s has no rule", np.Name, p.Name)
				}
			}
		}
		if from, ok := byPort["internal"]; ok {
			stepPods := false
			for _, peer := range from {
				if peer.NamespaceSelector != nil && len(peer.NamespaceSelector.MatchLabels)+len(peer.NamespaceSelector.MatchExpressions) == 0 &&
					peer.PodSelector != nil && len(peer.PodSelector.MatchExpressions) == 1 &&
					peer.PodSelector.MatchExpressions[0].Key == aiasv1alpha1.LabelRun &&
					peer.PodSelector.MatchExpressions[0].Operator == metav1.LabelSelectorOpExists {
					stepPods = true
				}
			}
			if !stepPods || len(from) == 0 {
				t.Errorf("NetworkPolicy %s: the internal step API admits %+v, want the pods labelled %s in every namespace", np.Name, from, aiasv1alpha1.LabelRun)
			}
		}
		if from, ok := byPort["metrics"]; ok {
			if len(from) != 1 || from[0].NamespaceSelector == nil || len(from[0].NamespaceSelector.MatchLabels) == 0 {
				t.Errorf("NetworkPolicy %s: metrics admits %+v, want networkPolicy.metrics.namespaceSelector", np.Name, from)
			}
		}
		if from, ok := byPort["webhook-server"]; ok && len(from) != 0 {
			t.Errorf("NetworkPolicy %s: the admission webhook admits only %+v; the API server's addresses are no pods", np.Name, from)
		}
	}
}

// checkServiceMonitors: each ServiceMonitor scrapes its metrics Service, over HTTPS with the
// scraper's token when that endpoint is secure (managerSecure, webhookserverSecure).
func checkServiceMonitors(t *testing.T, r *rendered, managerSecure, webhookserverSecure bool) {
	t.Helper()
	sms := r.ofKind("ServiceMonitor")
	if len(sms) != 2 {
		t.Fatalf("%d ServiceMonitors, want 2", len(sms))
	}
	for _, sm := range sms {
		if sm.GetAPIVersion() != "monitoring.coreos.com/v1" {
			t.Errorf("ServiceMonitor %s apiVersion %s", sm.GetName(), sm.GetAPIVersion())
		}
		if sm.GetLabels()["release"] != "kube-prometheus-stack" {
			t.Errorf("ServiceMonitor %s labels %v, want serviceMonitor.labels", sm.GetName(), sm.GetLabels())
		}
		sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
		eps, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
		if len(eps) != 1 {
			t.Fatalf("ServiceMonitor %s endpoints %v", sm.GetName(), eps)
		}
		ep := eps[0].(map[string]any)
		// Exactly one selected Service has the endpoint's port: the metrics Service.
		var targets []string
		for _, u := range r.ofKind("Service") {
			svc := typed[corev1.Service](t, u)
			if !labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
				continue
			}
			for _, p := range svc.Spec.Ports {
				if p.Name == ep["port"] {
					targets = append(targets, svc.Name)
				}
			}
		}
		if want := []string{sm.GetName() + "-metrics"}; !slices.Equal(targets, want) {
			t.Errorf("ServiceMonitor %s scrapes Services %v, want %v", sm.GetName(), targets, want)
		}
		wantScheme := "http"
		secure := map[string]bool{"aias-manager": managerSecure, "aias-webhookserver": webhookserverSecure}[sm.GetName()]
		if secure {
			wantScheme = "https"
			if ep["bearerTokenFile"] == nil || ep["tlsConfig"] == nil {
				t.Errorf("ServiceMonitor %s: HTTPS with authentication needs bearerTokenFile and tlsConfig, got %v", sm.GetName(), ep)
			}
		} else if ep["bearerTokenFile"] != nil || ep["tlsConfig"] != nil {
			t.Errorf("ServiceMonitor %s: plain HTTP endpoint has %v", sm.GetName(), ep)
		}
		if ep["scheme"] != wantScheme || ep["port"] != wantScheme && ep["port"] != "metrics" || ep["interval"] != "15s" {
			t.Errorf("ServiceMonitor %s endpoint %v, want scheme %s, interval 15s", sm.GetName(), ep, wantScheme)
		}
	}
}

// TestBadValuesRefused: the schema (and the templates' own checks) refuse bad values with a
// message naming the field, both when rendering and when linting.
func TestBadValuesRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		vals   string
		want   []string
		schema bool // refused by values.schema.json (so by helm lint as well)
	}{
		{"negative replicas", "replicaCount: -1", []string{"replicaCount", "minimum"}, true},
		{"negative webhookserver replicas", "webhookserver: {replicaCount: -2}", []string{"webhookserver", "replicaCount"}, true},
		{"unknown service type", "hooks: {service: {type: Foo}}", []string{"/hooks/service/type", "ClusterIP"}, true},
		{"unknown top-level key", "replicas: 2", []string{"replicas"}, true},
		{"unknown nested key", "networkPolicy: {enable: true}", []string{"networkPolicy", "enable"}, true},
		{"port out of range", "webhookserver: {internalPort: 70000}", []string{"internalPort", "maximum"}, true},
		{"port zero", "metrics: {port: 0}", []string{"metrics", "port"}, true},
		{"pull policy", "image: {pullPolicy: Sometimes}", []string{"pullPolicy"}, true},
		{"replicas as text", "replicaCount: two", []string{"replicaCount"}, true},
		{"no tenant policy", "admission: {noTenantPolicy: maybe}", []string{"noTenantPolicy"}, true},
		{"duration", "pastDueGrace: 3 days", []string{"pastDueGrace"}, true},
		{"webhook timeout", "admission: {timeoutSeconds: 60}", []string{"timeoutSeconds"}, true},
		{"bad percentage", "podDisruptionBudget: {maxUnavailable: half}", []string{"podDisruptionBudget", "maxUnavailable"}, true},
		{"topology", "webhookserver: {topologySpreadConstraints: [{maxSkew: 1, topologyKey: x, whenUnsatisfiable: Never}]}", []string{"whenUnsatisfiable"}, true},
		{"metrics namespace selector", "networkPolicy: {metrics: {namespaceSelector: {matchLabel: {a: b}}}}", []string{"namespaceSelector", "matchLabel"}, true},
		{"blocking budget", "podDisruptionBudget: {minAvailable: 1}", []string{"podDisruptionBudget.minAvailable", "block every node drain"}, false},
		{"blocking webhookserver budget", "webhookserver: {replicaCount: 2, podDisruptionBudget: {minAvailable: 2}}", []string{"webhookserver.podDisruptionBudget.minAvailable"}, false},
		{"zero maxUnavailable", "webhookserver: {podDisruptionBudget: {maxUnavailable: 0}}", []string{"webhookserver.podDisruptionBudget.maxUnavailable", "block every node drain"}, false},
		{"empty budget", "podDisruptionBudget: {maxUnavailable: ''}", []string{"podDisruptionBudget", "maxUnavailable or minAvailable"}, false},
		{"caBundle without its Secret", "admission: {caBundle: Zm9v}", []string{"admission.certSecret"}, false},
		{"plan limit", "plans: {default: {limits: {runsPerMonth: -1}}}", []string{"runsPerMonth"}, true},
		{"unknown plan limit", "plans: {default: {limits: {runs: 5}}}", []string{"runs"}, true},
		{"step timeout", "plans: {default: {limits: {maxStepTimeout: 10 minutes}}}", []string{"maxStepTimeout"}, true},
		{"tenant default", "tenantDefaults: {limitRange: {default: {cpu: lots}}}", []string{"cpu"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var vals map[string]any
			if err := yaml.Unmarshal([]byte(tc.vals), &vals); err != nil {
				t.Fatal(err)
			}
			_, err := render(t, vals)
			if err == nil {
				t.Fatalf("render with %s succeeded", tc.vals)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("render error does not mention %q:\n%v", w, err)
				}
			}
			if !tc.schema {
				return // helm lint only logs a template's fail() (as INFO); helm template refuses it
			}
			l := lint.All(chartDir, vals, namespace, false)
			if l.HighestSeverity < support.ErrorSev {
				t.Fatalf("lint with %s found no error", tc.vals)
			}
			var msgs []string
			for _, m := range l.Messages {
				msgs = append(msgs, m.Error())
			}
			all := strings.Join(msgs, "\n")
			for _, w := range tc.want {
				if !strings.Contains(all, w) {
					t.Errorf("lint messages do not mention %q:\n%s", w, all)
				}
			}
		})
	}
}

// TestSchemaCoversEveryValue: every key of values.yaml has a schema property, so
// additionalProperties: false refuses only what the chart does not know.
func TestSchemaCoversEveryValue(t *testing.T) {
	var vals, sch map[string]any
	readYAML(t, filepath.Join(chartDir, "values.yaml"), &vals)
	readYAML(t, filepath.Join(chartDir, "values.schema.json"), &sch)
	if sch["$schema"] != "http://json-schema.org/draft-07/schema#" {
		t.Errorf("$schema = %v, want draft-07", sch["$schema"])
	}
	// Kubernetes types passed through as they are: their schema lists fields values.yaml
	// need not set.
	passthrough := map[string]bool{"resources.": true, "webhookserver.resources.": true,
		"networkPolicy.metrics.namespaceSelector.": true, "networkPolicy.metrics.podSelector.": true}
	var walk func(path string, v map[string]any, s map[string]any)
	walk = func(path string, v map[string]any, s map[string]any) {
		props, _ := s["properties"].(map[string]any)
		if s["additionalProperties"] == false && !passthrough[path] {
			for k := range props {
				if _, ok := v[k]; !ok && path+k != "global" {
					t.Errorf("schema has %s%s, values.yaml does not", path, k)
				}
			}
		}
		for k, val := range v {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if s["additionalProperties"] == false || props != nil {
					t.Errorf("values.yaml has %s%s, the schema does not", path, k)
				}
				continue
			}
			if ps["type"] == nil {
				t.Errorf("schema property %s%s has no type", path, k)
			}
			if m, ok := val.(map[string]any); ok && ps["properties"] != nil {
				walk(path+k+".", m, ps)
			}
		}
	}
	walk("", vals, sch)
}

func readYAML(t *testing.T, path string, out any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, out); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// sortedKeys is for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}
