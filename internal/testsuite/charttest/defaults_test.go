package charttest

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/yaml"

	aiasv1alpha1 "github.com/aias-dev/aias/api/v1alpha1"
	"github.com/aias-dev/aias/internal/manager"
	"github.com/aias-dev/aias/webhookserver"
)

const webhookCertDir = "/tmp/k8s-webhook-server/serving-certs"

// A plain `helm install` (no values) enforces plan limits and the other safe defaults:
// admission on, with the manager generating and injecting the serving certificate (the
// names in its flags are the Secret, Service and webhook configuration rendered, and its
// RBAC updates exactly those two objects); the Plan named by defaultPlan shipped with every
// limit set; tenant namespaces' LimitRange and NetworkPolicy on; the webhookserver's
// metrics authenticated; only the manager's ServiceAccount may remove AIAS's finalizers.
// On main admission was off by default (it needed cert-manager), no Plan was shipped, and
// none of the rest existed.
func TestDefaultInstallEnforcesPlans(t *testing.T) {
	r := mustRender(t, nil)
	mgr, o := managerOf(t, r)
	c := o.AdmissionCerts
	if !o.AdmissionWebhooks || !c.Rotate {
		t.Fatalf("manager args: admission %v, certificate rotation %v; want both on", o.AdmissionWebhooks, c.Rotate)
	}
	if c.Namespace != namespace {
		t.Errorf("--admission-namespace=%q, want the release namespace %s", c.Namespace, namespace)
	}
	secret := typed[corev1.Secret](t, r.get(t, "Secret", c.Secret))
	if len(secret.Data)+len(secret.StringData) != 0 {
		t.Errorf("Secret %s ships data; the manager's rotator fills it", secret.Name)
	}
	checkCertMount(t, mgr, c.Secret)
	svc := typed[corev1.Service](t, r.get(t, "Service", c.Service))
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != 443 || !hasContainerPort(mgr, svc.Spec.Ports[0].TargetPort.String()) {
		t.Errorf("Service %s ports %+v, want 443 to the manager's webhook-server port", svc.Name, svc.Spec.Ports)
	}
	vwc := typed[admissionregistrationv1.ValidatingWebhookConfiguration](t, r.get(t, "ValidatingWebhookConfiguration", c.WebhookConfig))
	if len(vwc.Annotations) != 0 {
		t.Errorf("webhook configuration annotations %v: the rotator, not cert-manager, injects the CA", vwc.Annotations)
	}
	var kinds []string
	for _, w := range vwc.Webhooks {
		kinds = append(kinds, w.Rules[0].Resources...)
		if w.ClientConfig.Service == nil || w.ClientConfig.Service.Name != c.Service || w.ClientConfig.Service.Namespace != namespace ||
			len(w.ClientConfig.CABundle) != 0 || w.FailurePolicy == nil || *w.FailurePolicy != admissionregistrationv1.Fail {
			t.Errorf("webhook %s: clientConfig %+v, failurePolicy %v; want Service %s, no caBundle (the rotator's), Fail", w.Name, w.ClientConfig, w.FailurePolicy, c.Service)
		}
	}
	if slices.Sort(kinds); !slices.Equal(kinds, []string{"schedules", "webhookendpoints", "workflows"}) {
		t.Errorf("webhooks for %v, want schedules, webhookendpoints, workflows", kinds)
	}
	role := typed[rbacv1.Role](t, r.get(t, "Role", "aias-manager-webhook-cert"))
	clusterRole := typed[rbacv1.ClusterRole](t, r.get(t, "ClusterRole", "aias-manager-webhook-ca"))
	if !grants(role.Rules, "secrets", "update", c.Secret) || grants(role.Rules, "secrets", "update", "aias-database") {
		t.Errorf("Role %s rules %+v: want update on Secret %s only", role.Name, role.Rules, c.Secret)
	}
	if !grants(clusterRole.Rules, "validatingwebhookconfigurations", "update", c.WebhookConfig) ||
		grants(clusterRole.Rules, "validatingwebhookconfigurations", "update", "another") {
		t.Errorf("ClusterRole %s rules %+v: want update on %s only", clusterRole.Name, clusterRole.Rules, c.WebhookConfig)
	}
	for _, binding := range []struct{ kind, name string }{{"RoleBinding", role.Name}, {"ClusterRoleBinding", clusterRole.Name}} {
		b := typed[rbacv1.RoleBinding](t, r.get(t, binding.kind, binding.name))
		if len(b.Subjects) != 1 || b.Subjects[0].Name != mgr.Spec.Template.Spec.ServiceAccountName || b.Subjects[0].Namespace != namespace {
			t.Errorf("%s %s binds %+v, want the manager's ServiceAccount", binding.kind, b.Name, b.Subjects)
		}
	}

	checkDefaultPlan(t, r, o.DefaultPlan)

	d := o.TenantContainerDefaults
	wantRequests := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")}
	wantLimits := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1"), corev1.ResourceMemory: resource.MustParse("512Mi")}
	if d == nil || !equality.Semantic.DeepEqual(d.Requests, wantRequests) || !equality.Semantic.DeepEqual(d.Limits, wantLimits) || !o.TenantNetworkPolicy {
		t.Errorf("tenant namespace defaults %+v, network policy %v; want the LimitRange 100m/128Mi requests, 1/512Mi limits, and the NetworkPolicy", d, o.TenantNetworkPolicy)
	}

	ws := typed[appsv1.Deployment](t, r.get(t, "Deployment", "aias-webhookserver"))
	wo, err := webhookserver.ParseFlags(ws.Spec.Template.Spec.Containers[0].Args)
	if err != nil {
		t.Fatal(err)
	}
	if wo.InsecureMetrics {
		t.Error("the webhookserver's metrics are unauthenticated by default")
	}

	vap := typed[admissionregistrationv1.ValidatingAdmissionPolicy](t, r.get(t, "ValidatingAdmissionPolicy", "aias-finalizers"))
	managerUser := "system:serviceaccount:" + namespace + ":" + mgr.Spec.Template.Spec.ServiceAccountName
	if len(vap.Spec.MatchConditions) != 1 || !strings.Contains(vap.Spec.MatchConditions[0].Expression, "'"+managerUser+"'") {
		t.Errorf("finalizer policy matchConditions %+v, want one exempting %s", vap.Spec.MatchConditions, managerUser)
	}
	binding := typed[admissionregistrationv1.ValidatingAdmissionPolicyBinding](t, r.get(t, "ValidatingAdmissionPolicyBinding", "aias-finalizers"))
	if binding.Spec.PolicyName != vap.Name || !slices.Equal(binding.Spec.ValidationActions, []admissionregistrationv1.ValidationAction{admissionregistrationv1.Deny}) {
		t.Errorf("binding %+v, want Deny for %s", binding.Spec, vap.Name)
	}
}

// The finalizer policy the chart renders is config/policy's (which the envtest test in
// controllers/admission/admissiontest runs), with the release's manager ServiceAccount.
func TestFinalizerPolicyMatchesConfig(t *testing.T) {
	r := mustRender(t, nil)
	chart := typed[admissionregistrationv1.ValidatingAdmissionPolicy](t, r.get(t, "ValidatingAdmissionPolicy", "aias-finalizers"))
	var config admissionregistrationv1.ValidatingAdmissionPolicy
	readYAMLDocs(t, filepath.Join("..", "..", "..", "config", "policy", "finalizer_policy.yaml"), "ValidatingAdmissionPolicy", &config)
	// The same release namespace and manager name as config/: the specs are equal.
	if !equality.Semantic.DeepEqual(chart.Spec, config.Spec) {
		t.Errorf("chart's finalizer policy differs from config/policy:\nchart:  %+v\nconfig: %+v", chart.Spec, config.Spec)
	}
	other := mustRender(t, map[string]any{"fullnameOverride": "acme"})
	vap := typed[admissionregistrationv1.ValidatingAdmissionPolicy](t, other.get(t, "ValidatingAdmissionPolicy", "acme-finalizers"))
	if !strings.Contains(vap.Spec.MatchConditions[0].Expression, "'system:serviceaccount:"+namespace+":acme-manager'") {
		t.Errorf("with fullnameOverride acme the policy exempts %q, want acme-manager", vap.Spec.MatchConditions[0].Expression)
	}
}

// The other two certificate sources: cert-manager (a Certificate and Issuer, the CA
// injected by its annotation, no Secret from the chart) and a Secret of your own with its
// caBundle; with either the manager does not rotate, and no rotator RBAC is rendered.
func TestAdmissionCertificateSources(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals map[string]any
	}{
		{"cert-manager", map[string]any{"certManager": map[string]any{"enabled": true}}},
		{"own Secret", map[string]any{"certSecret": "my-cert", "caBundle": "Q0E="}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := mustRender(t, map[string]any{"admission": tc.vals})
			mgr, o := managerOf(t, r)
			if !o.AdmissionWebhooks || o.AdmissionCerts.Rotate {
				t.Errorf("manager args: admission %v, rotation %v; want admission without rotation", o.AdmissionWebhooks, o.AdmissionCerts.Rotate)
			}
			vwc := typed[admissionregistrationv1.ValidatingWebhookConfiguration](t, r.get(t, "ValidatingWebhookConfiguration", "aias-validating-webhook"))
			certManager := tc.name == "cert-manager"
			wantSecret := "aias-manager-webhook-cert"
			if !certManager {
				wantSecret = "my-cert"
			}
			checkCertMount(t, mgr, wantSecret)
			for _, w := range vwc.Webhooks {
				if (string(w.ClientConfig.CABundle) == "CA") == certManager {
					t.Errorf("webhook %s caBundle %q", w.Name, w.ClientConfig.CABundle)
				}
			}
			if (vwc.Annotations["cert-manager.io/inject-ca-from"] != "") != certManager {
				t.Errorf("annotations %v", vwc.Annotations)
			}
			got := r.kinds()
			if got["Certificate"] != map[bool]int{true: 1}[certManager] || got["Secret"] != 1 || got["Role"] != 1 {
				t.Errorf("rendered %v: want a Certificate only with cert-manager, only the step-token Secret, no rotator Role", got)
			}
		})
	}
}

// Each default can be turned off: no Plan, no finalizer policy, no tenant LimitRange or
// NetworkPolicy, plain metrics.
func TestSafeDefaultsTurnedOff(t *testing.T) {
	r := mustRender(t, map[string]any{
		"plans":           map[string]any{"default": map[string]any{"create": false}},
		"finalizerPolicy": map[string]any{"enabled": false},
		"tenantDefaults":  map[string]any{"limitRange": map[string]any{"enabled": false}, "networkPolicy": map[string]any{"enabled": false}},
		"webhookserver":   map[string]any{"metrics": map[string]any{"secure": false}},
	})
	for _, kind := range []string{"Plan", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		if n := r.kinds()[kind]; n != 0 {
			t.Errorf("%d %s rendered", n, kind)
		}
	}
	_, o := managerOf(t, r)
	if o.TenantContainerDefaults != nil || o.TenantNetworkPolicy {
		t.Errorf("tenant defaults %+v, network policy %v; want both off", o.TenantContainerDefaults, o.TenantNetworkPolicy)
	}
	ws := typed[appsv1.Deployment](t, r.get(t, "Deployment", "aias-webhookserver"))
	if wo, err := webhookserver.ParseFlags(ws.Spec.Template.Spec.Containers[0].Args); err != nil || !wo.InsecureMetrics {
		t.Errorf("webhookserver metrics: insecure %v (%v), want plain", wo.InsecureMetrics, err)
	}
}

// checkDefaultPlan: the Plan named by defaultPlan, kept on uninstall, with every limit of
// PlanLimits set (an absent one would be unlimited), the same as config/plans/free.yaml.
func checkDefaultPlan(t *testing.T, r *rendered, name string) {
	t.Helper()
	plan := typed[aiasv1alpha1.Plan](t, r.get(t, "Plan", name))
	if plan.Annotations["helm.sh/resource-policy"] != "keep" {
		t.Errorf("Plan %s annotations %v, want helm.sh/resource-policy: keep", name, plan.Annotations)
	}
	l := reflect.ValueOf(plan.Spec.Limits)
	for i := 0; i < l.NumField(); i++ {
		// The Allowed* placement lists are no quota: absent, a tenant's steps may use the
		// node labels, taints and classes the platform team has not set aside; a team that
		// dedicates nodes or runtimes lists what each plan may use.
		if field := l.Type().Field(i).Name; strings.HasPrefix(field, "Allowed") {
			continue
		}
		if l.Field(i).IsNil() {
			t.Errorf("Plan %s leaves spec.limits %s unset (unlimited)", name, l.Type().Field(i).Name)
		}
	}
	var config aiasv1alpha1.Plan
	readYAMLDocs(t, filepath.Join("..", "..", "..", "config", "plans", "free.yaml"), "Plan", &config)
	if config.Name != name || !equality.Semantic.DeepEqual(config.Spec, plan.Spec) {
		t.Errorf("config/plans/free.yaml (%s %+v) differs from the chart's default Plan (%s %+v)", config.Name, config.Spec, name, plan.Spec)
	}
}

// managerOf returns the manager Deployment and its parsed flags.
func managerOf(t *testing.T, r *rendered) (*appsv1.Deployment, manager.Options) {
	t.Helper()
	t.Setenv("AIAS_DATABASE_URL", "postgres://from-the-secret")
	mgr := typed[appsv1.Deployment](t, r.get(t, "Deployment", "aias-manager"))
	o, err := manager.ParseFlags(mgr.Spec.Template.Spec.Containers[0].Args)
	if err != nil {
		t.Fatalf("the manager's args %v: %v", mgr.Spec.Template.Spec.Containers[0].Args, err)
	}
	return mgr, o
}

// checkCertMount: the Secret is mounted read-only where the webhook server reads it.
func checkCertMount(t *testing.T, d *appsv1.Deployment, secret string) {
	t.Helper()
	for _, m := range d.Spec.Template.Spec.Containers[0].VolumeMounts {
		if m.MountPath != webhookCertDir {
			continue
		}
		for _, v := range d.Spec.Template.Spec.Volumes {
			if v.Name == m.Name && v.Secret != nil && v.Secret.SecretName == secret && m.ReadOnly {
				return
			}
		}
	}
	t.Errorf("Secret %s is not mounted read-only at %s", secret, webhookCertDir)
}

// grants reports whether rules allow verb on the named object of resource.
func grants(rules []rbacv1.PolicyRule, resource, verb, name string) bool {
	for _, r := range rules {
		if slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) &&
			(len(r.ResourceNames) == 0 || slices.Contains(r.ResourceNames, name)) {
			return true
		}
	}
	return false
}

// readYAMLDocs decodes the one document of kind in a multi-document YAML file into out.
func readYAMLDocs(t *testing.T, path, kind string, out any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, doc := range strings.Split(string(raw), "\n---") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if meta.Kind == kind {
			found++
			if err := yaml.UnmarshalStrict([]byte(doc), out); err != nil {
				t.Fatalf("%s: %v", path, err)
			}
		}
	}
	if found != 1 {
		t.Fatalf("%s holds %d %s documents, want 1", path, found, kind)
	}
}

// The chart runs the step runtime's CSI driver by default and passes --step-runtime=csi;
// its CSIDriver and DaemonSet are config/stepruntime's (kustomize users apply that and
// switch the flag), and stepRuntime.mode init-container renders neither.
func TestStepRuntimeDriverMatchesConfig(t *testing.T) {
	r := mustRender(t, nil)
	mgr := typed[appsv1.Deployment](t, r.get(t, "Deployment", "aias-manager"))
	if !slices.Contains(mgr.Spec.Template.Spec.Containers[0].Args, "--step-runtime=csi") {
		t.Errorf("manager args %v lack --step-runtime=csi", mgr.Spec.Template.Spec.Containers[0].Args)
	}
	chartDriver := typed[storagev1.CSIDriver](t, r.get(t, "CSIDriver", "step-runtime.aias.dev"))
	var configDriver storagev1.CSIDriver
	readYAMLDocs(t, filepath.Join("..", "..", "..", "config", "stepruntime", "csidriver.yaml"), "CSIDriver", &configDriver)
	if !equality.Semantic.DeepEqual(chartDriver.Spec, configDriver.Spec) {
		t.Errorf("CSIDriver differs:\nchart:  %+v\nconfig: %+v", chartDriver.Spec, configDriver.Spec)
	}
	ds := typed[appsv1.DaemonSet](t, r.get(t, "DaemonSet", "aias-step-runtime"))
	var configDS appsv1.DaemonSet
	readYAMLDocs(t, filepath.Join("..", "..", "..", "config", "stepruntime", "daemonset.yaml"), "DaemonSet", &configDS)
	if ds.Namespace != "aias-node" {
		t.Errorf("driver namespace %q, want aias-node", ds.Namespace)
	}
	chartPod, configPod := ds.Spec.Template.Spec, configDS.Spec.Template.Spec
	chartC, configC := chartPod.Containers[0], configPod.Containers[0]
	configC.Image, chartC.Image = "", ""
	chartC.ImagePullPolicy = ""
	if !equality.Semantic.DeepEqual(chartC, configC) || !equality.Semantic.DeepEqual(chartPod.Volumes, configPod.Volumes) ||
		!equality.Semantic.DeepEqual(chartPod.Tolerations, configPod.Tolerations) || chartPod.PriorityClassName != configPod.PriorityClassName ||
		*chartPod.AutomountServiceAccountToken || *configPod.AutomountServiceAccountToken {
		t.Errorf("driver pod differs:\nchart:  %+v\nconfig: %+v", chartPod, configPod)
	}
	off := mustRender(t, map[string]any{"stepRuntime": map[string]any{"mode": "init-container"}})
	for _, kind := range []string{"CSIDriver", "DaemonSet"} {
		if n := len(off.ofKind(kind)); n != 0 {
			t.Errorf("mode init-container still renders %d %s", n, kind)
		}
	}
	mgr = typed[appsv1.Deployment](t, off.get(t, "Deployment", "aias-manager"))
	if !slices.Contains(mgr.Spec.Template.Spec.Containers[0].Args, "--step-runtime=init-container") {
		t.Errorf("mode init-container: manager args %v", mgr.Spec.Template.Spec.Containers[0].Args)
	}
}
